import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

/**
 * Connects as a real device (CONNACK 0 first, so a refusal cannot be what closes the connection), then writes
 * `bytes`; resolves with how long the emulator took to close the connection after them.
 */
async function afterConnectSend(bytes: Buffer[]): Promise<{ closedAfterMs: number; connack: number }> {
  const device = await provisionDevice(emulator, `guarded-${Math.random().toString(36).slice(2, 8)}`);
  return new Promise((resolve, reject) => {
    const socket = connect(emulator.port, '127.0.0.1');
    const parser = mqttPacket.parser();
    let sentAt = 0;
    let connack = -1;
    socket.on('error', () => {});
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('close', () => resolve({ closedAfterMs: Date.now() - sentAt, connack }));
    parser.on('packet', (packet) => {
      if (packet.cmd !== 'connack') return;
      connack = packet.returnCode ?? -1;
      if (connack !== 0) reject(new Error(`CONNACK ${connack}`));
      sentAt = Date.now();
      for (const chunk of bytes) socket.write(chunk);
    });
    socket.on('connect', () => {
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clientId: device.hubDeviceId,
          username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
          password: Buffer.from(device.sasToken),
          clean: true,
          keepalive: 30,
        }),
      );
    });
  });
}

describe('MQTT packet size guard', () => {
  it('drops a connection whose packet announces more than the limit, before the body arrives', async () => {
    // A PUBLISH header announcing 200 MB, then 1 KB of body: without the guard aedes would wait for the rest.
    const outcome = await afterConnectSend([Buffer.from([0x30, 0x80, 0x80, 0x80, 0x60]), Buffer.alloc(1024)]);
    expect(outcome.connack).toBe(0);
    expect(outcome.closedAfterMs).toBeLessThan(2000);
    const health = await call(emulator.instance, 'POST', '/provisioning-operations/init', {
      token: emulator.provisioningToken,
      json: {},
    });
    expect(health.status).toBe(200);
  });

  it('drops a connection with a malformed remaining length', async () => {
    const outcome = await afterConnectSend([Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    expect(outcome.closedAfterMs).toBeLessThan(2000);
  });
});
