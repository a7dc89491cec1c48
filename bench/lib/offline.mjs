// A device database for offline figures: provisioned against an emulator started for that alone, which then stops.
// A client started from a copy of it has a stored registration whose hub is gone, so it only queues: what is
// measured is the durable store.
import { startDevice } from './device.mjs';
import { startEmulator } from './emulator.mjs';

/**
 * Provisions device `name` into the database file `template`; returns the stopped emulator (its provisioning token
 * and CA are what an offline start passes).
 */
export async function offlineTemplate(dir, name, template) {
  const emulator = await startEmulator();
  try {
    const client = await startDevice(emulator, { dir, name, database: template });
    await client.close();
  } finally {
    await emulator.stop();
  }
  return emulator;
}
