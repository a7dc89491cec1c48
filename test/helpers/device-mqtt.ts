import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { ProvisionedDevice, TestEmulator } from './emulator.js';

export type Transport = 'mqtt' | 'mqtts' | 'ws' | 'wss';

export function brokerUrl(emulator: TestEmulator, transport: Transport): string {
  const path = transport === 'ws' || transport === 'wss' ? '/$iothub/websocket' : '';
  return `${transport}://localhost:${emulator.port}${path}`;
}

/** Connects a device the way IoT Hub expects (client id, username, SAS password), over any transport. */
export function connectDevice(
  emulator: TestEmulator,
  device: ProvisionedDevice,
  transport: Transport = 'mqtt',
  overrides: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  return mqtt.connectAsync(brokerUrl(emulator, transport), {
    clientId: device.hubDeviceId,
    username: `${device.iotHubHostName}/${device.hubDeviceId}/?api-version=2021-04-12`,
    password: device.sasToken,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: emulator.ca,
    ...overrides,
  });
}

/** Resolves with the next message whose topic starts with `prefix`. */
export function nextMessage(
  client: MqttClient,
  prefix: string,
  timeoutMs = 5000,
): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${prefix} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic, payload });
    };
    client.on('message', onMessage);
  });
}

/** Resolves when the broker closes the connection. */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.disconnected || !client.connected) return resolve();
    const onClose = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('close', onClose);
      reject(new Error('connection stayed open'));
    }, timeoutMs);
    client.once('close', onClose);
  });
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
