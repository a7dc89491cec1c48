import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { memoryLogger, startClient } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

/** Read by the client and the emulator: the SAS and registration token lifetimes pass when the test says. */
const clock = new StillClock();
const bed = emulatorPerFile('spotflow-sdk-', {
  settings: { autoApprove: true, sasTokenLifetimeSeconds: 4, registrationTokenLifetimeSeconds: 6 },
  now: () => clock.now(),
});
const { dirs } = bed;

describe('secrets stay secret', () => {
  it('never logs a token, even at debug level through renewals, refreshes and reconnects', async () => {
    const logger = memoryLogger();
    const database = dirs.file('secrets.db');
    const client = await startClient(bed.emulator, { database, deviceId: 'quiet', logger, clock });
    const seen = new Set<string>();
    try {
      const db = new Database(database, { readonly: true });
      const snapshot = () => {
        const row = db.prepare("SELECT value FROM state WHERE key = 'registration'").get() as {
          value: string;
        };
        const registration = JSON.parse(row.value);
        seen.add(registration.registrationToken);
        seen.add(registration.hub.sasToken);
        seen.add(/sig=([^&]+)/.exec(registration.hub.sasToken)![1]!);
      };
      snapshot();
      for (let i = 0; i < 5; i++) {
        await client.sendMessage({ i });
        await bed.emulator.api.request('DELETE', '/devices/quiet/connection');
        // A second of the client's time: over the five, the SAS is renewed twice and the token refreshed once.
        await clock.advance(1000);
        await clock.quiet();
        snapshot();
      }
      await waitFor(() => client.connected);
      snapshot();
      db.close();
    } finally {
      await client.close();
    }
    expect(seen.size).toBeGreaterThan(3); // tokens really changed during the run
    const log = logger.lines.join('\n');
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(log).not.toContain(bed.emulator.provisioningToken);
    for (const secret of seen) {
      expect(log).not.toContain(secret);
      expect(log).not.toContain(encodeURIComponent(secret));
    }
  }, 30_000);

  it('creates the database readable by its owner only', () => {
    const mode = statSync(dirs.file('secrets.db')).mode & 0o777;
    expect(mode).toBe(0o600);
  });
});
