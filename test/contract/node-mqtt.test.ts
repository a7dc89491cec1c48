import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNodeMqttConnector } from '../../platform/node/mqtt.js';
import type { MqttConnection, MqttConnector } from '../../src/ports.js';
import { brokerUrl, type Transport } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  type ContractDevice,
  connectOptions,
  type MqttContractContext,
  mqttContract,
} from './mqtt-contract.js';

let emulator: TestEmulator;
/** Trusts the emulator's CA (used for mqtts: and wss: only). */
let connector: MqttConnector;
const connections: MqttConnection[] = [];
let deviceCounter = 0;

beforeAll(async () => {
  emulator = await startTestEmulator();
  connector = createNodeMqttConnector({ ca: emulator.ca });
});
afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.end(true)));
});
afterAll(() => emulator.close());

async function provision(): Promise<ContractDevice> {
  const device = await provisionDevice(emulator, `contract-${++deviceCounter}`);
  return { ...device, password: device.sasToken };
}

function context(transport: Transport, overrides: Partial<MqttContractContext> = {}): MqttContractContext {
  return {
    connector,
    url: brokerUrl(emulator, transport),
    provision,
    async storedMessages(deviceId) {
      const { items } = await emulator.api.messages(deviceId, '?limit=1000');
      return items.map((item) => ({ mid: item.mid, payload: Buffer.from(item.payloadBase64, 'base64') }));
    },
    async sendCloudMessage(deviceId, body, properties = {}) {
      const query = new URLSearchParams(properties).toString();
      const result = await emulator.api.request(
        'POST',
        `/devices/${encodeURIComponent(deviceId)}/c2d-messages${query ? `?${query}` : ''}`,
        undefined,
        { body },
      );
      if (result.status !== 202) throw new Error(`c2d: ${result.status}`);
    },
    async dropConnection(deviceId) {
      const result = await emulator.api.request(
        'DELETE',
        `/devices/${encodeURIComponent(deviceId)}/connection`,
      );
      if (result.status !== 204) throw new Error(`drop: ${result.status}`);
    },
    async isConnected(deviceId) {
      const devices = await emulator.api.request<{ deviceId: string; connected: boolean }[]>(
        'GET',
        '/devices',
      );
      return devices.body.some((device) => device.deviceId === deviceId && device.connected);
    },
    track: (connection) => connections.push(connection),
    ...overrides,
  };
}

describe.each<Transport>(['mqtt', 'mqtts', 'ws', 'wss'])(
  'MqttConnector contract (MQTT.js, %s)',
  (transport) => {
    it.each(mqttContract)('$name', ({ run }) => run(context(transport)));
  },
);

/** A TCP server that accepts connections and never answers, so a connect stays pending. */
async function silentServer(): Promise<{ port: number; sockets: Socket[]; server: Server }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.resume(); // read and ignore, so that the client's close is seen
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, sockets, server };
}

async function closeServer(server: Server, sockets: Socket[]) {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
}

describe('Node MQTT connector', () => {
  it('rejects with NETWORK when nothing listens on the port', async () => {
    const { port, server, sockets } = await silentServer();
    await closeServer(server, sockets);
    const device = await provision();
    const options = connectOptions(context('mqtt'), device);
    await expect(connector.connect({ ...options, url: `mqtt://127.0.0.1:${port}` })).rejects.toMatchObject({
      name: 'SpotflowError',
      code: 'NETWORK',
      cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
    });
  });

  it.each<Transport>(['mqtts', 'wss'])(
    'verifies TLS: without the CA, %s rejects with TLS naming the broker',
    async (transport) => {
      const device = await provision();
      const options = connectOptions(context(transport), device);
      await expect(createNodeMqttConnector().connect(options)).rejects.toMatchObject({
        code: 'TLS',
        message: expect.stringContaining(`the MQTT broker ${new URL(options.url).host}`),
        cause: expect.objectContaining({ code: expect.any(String) }),
      });
      expect(await context(transport).isConnected(device.deviceId)).toBe(false);
    },
  );

  it('aborts a connect that the server never answers, and closes its socket', async () => {
    const { port, server, sockets } = await silentServer();
    try {
      const device = await provision();
      const controller = new AbortController();
      const options = { ...connectOptions(context('mqtt'), device), url: `mqtt://127.0.0.1:${port}` };
      const connecting = connector.connect(options, controller.signal);
      await expect.poll(() => sockets.length).toBe(1);
      const socketClosed = new Promise((resolve) => sockets[0]!.once('close', resolve));
      controller.abort();
      await expect(connecting).rejects.toMatchObject({ code: 'ABORTED' });
      await socketClosed;
    } finally {
      await closeServer(server, sockets);
    }
  });

  it('rejects with NETWORK when the broker does not answer within connectTimeoutMs', async () => {
    const { port, server, sockets } = await silentServer();
    try {
      const device = await provision();
      const options = {
        ...connectOptions(context('mqtt'), device),
        url: `mqtt://127.0.0.1:${port}`,
        connectTimeoutMs: 200,
      };
      const started = Date.now();
      await expect(connector.connect(options)).rejects.toMatchObject({ code: 'NETWORK' });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await closeServer(server, sockets);
    }
  });

  it('refuses URL schemes it does not speak with INVALID_ARGUMENT', async () => {
    const device = await provision();
    const options = { ...connectOptions(context('mqtt'), device), url: `http://localhost:${emulator.port}` };
    await expect(connector.connect(options)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('maps a disabled workspace (CONNACK 5) to CONNECTION_REFUSED', async () => {
    const device = await provision();
    await emulator.api.settings({ disabled: true });
    try {
      await expect(connector.connect(connectOptions(context('mqtt'), device))).rejects.toMatchObject({
        code: 'CONNECTION_REFUSED',
      });
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });
});
