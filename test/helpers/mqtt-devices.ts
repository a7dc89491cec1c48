/**
 * The usual setting of an emulator test file that speaks raw MQTT: one in-memory emulator for the file's tests, and
 * `connect`, whose device connections are ended after each test.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { connectDevice } from './device-mqtt.js';
import { type ProvisionedDevice, startTestEmulator, type TestEmulator } from './emulator.js';

export interface EmulatorWithDevices {
  /** The running emulator (from the file's `beforeAll` on). */
  readonly emulator: TestEmulator;
  /** Connects `who` over MQTT/TCP (errors are the test's to check, not unhandled); ended after the test. */
  connect(who: ProvisionedDevice, overrides?: Partial<IClientOptions>): Promise<MqttClient>;
  /** Ends `client` (connected some other way) after the test too. */
  track(client: MqttClient): void;
}

export function emulatorWithDevices(): EmulatorWithDevices {
  let emulator: TestEmulator | undefined;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    emulator = await startTestEmulator();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });
  afterAll(() => emulator?.close());
  const bed: EmulatorWithDevices = {
    get emulator() {
      if (emulator === undefined) throw new Error('the emulator starts in beforeAll: use it inside a test');
      return emulator;
    },
    async connect(who, overrides = {}) {
      const client = await connectDevice(bed.emulator, who, 'mqtt', overrides);
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    track(client) {
      clients.push(client);
    },
  };
  return bed;
}
