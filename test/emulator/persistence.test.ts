import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDevice, waitFor } from '../helpers/device-mqtt.js';
import { provisionDevice, startTestEmulator } from '../helpers/emulator.js';

const dataDir = mkdtempSync(join(tmpdir(), 'emulator-persistence-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('emulator state across restarts', () => {
  it('keeps identity, devices, twins, messages and queued C2D in its data directory', async () => {
    const first = await startTestEmulator({ memory: false, dataDir });
    const device = await provisionDevice(first, 'keeper');
    const client = await connectDevice(first, device);
    await client.publishAsync(
      `devices/${device.hubDeviceId}/messages/events/stream-name=s&%24.mid=m1`,
      'kept',
      {
        qos: 1,
      },
    );
    await client.publishAsync(
      '$iothub/twin/PATCH/properties/reported/?$rid=1',
      JSON.stringify({ fw: '2.0' }),
    );
    await client.endAsync();
    await first.api.request('PATCH', '/devices/keeper/twin/desired', { interval: 30 });
    await first.api.request('POST', '/devices/keeper/c2d-messages?n=1', undefined, { body: 'while-away' });
    const caPem = first.ca;
    await first.close();

    const second = await startTestEmulator({ memory: false, dataDir });
    try {
      expect(second.workspaceId).toBe(first.workspaceId);
      expect(second.provisioningToken).toBe(first.provisioningToken);
      expect(second.apiToken).toBe(first.apiToken);
      expect(second.ca).toBe(caPem);
      const devices = await second.api.request('GET', '/devices');
      expect(devices.body).toEqual([expect.objectContaining({ deviceId: 'keeper', connected: false })]);
      const twin = await second.api.twin('keeper');
      expect(twin.desired).toMatchObject({ interval: 30, $version: 2 });
      expect(twin.reported).toMatchObject({ fw: '2.0', $version: 2 });
      const { items } = await second.api.messages('keeper');
      expect(items).toEqual([
        expect.objectContaining({ mid: 'm1', payloadBase64: Buffer.from('kept').toString('base64') }),
      ]);

      // The device's SAS from before the restart still works (its key was kept) and the queued C2D arrives.
      const again = await connectDevice(second, device);
      const received: string[] = [];
      again.on('message', (_topic, payload) => received.push(payload.toString()));
      await again.subscribeAsync(`devices/${device.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
      await waitFor(() => received.length === 1);
      expect(received).toEqual(['while-away']);
      await again.endAsync();
    } finally {
      await second.close();
    }
  });

  it('creates the database and TLS key readable by the owner only', () => {
    expect(statSync(join(dataDir, 'emulator.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'tls', 'server.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
