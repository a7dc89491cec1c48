/**
 * `connecting`, `connected` and `disconnected` against the real emulator: a connection the hub drops is followed by
 * a new attempt, counted from 1, to the hub's host.
 */
import { describe, expect, it } from 'vitest';
import { startClient } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-connection-events-');
const { dirs } = bed;

describe('connection events', () => {
  it('a dropped connection is followed by connecting (attempt 1, the hub host) and connected again', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('events.db'), deviceId: 'events' });
    const seen: string[] = [];
    client.on('connecting', ({ attempt, host }) => seen.push(`connecting ${attempt} ${host}`));
    client.on('connected', () => seen.push('connected'));
    client.on('disconnected', () => seen.push('disconnected'));
    try {
      await waitFor(() => client.connected, 10_000);
      seen.length = 0;
      const dropped = await bed.emulator.api.request('DELETE', '/devices/events/connection');
      expect(dropped.status).toBe(204);
      await waitFor(() => seen.includes('connected'), 10_000);
      expect(seen).toEqual([
        'disconnected',
        `connecting 1 ${new URL(bed.emulator.instance).host}`,
        'connected',
      ]);
    } finally {
      await client.close();
    }
  });
});
