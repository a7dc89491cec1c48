// The end-to-end scenario a runtime's user would write, run inside Bun or Deno by runtimes.ts: `spotflow-device`
// by its public name (the runtime's export condition picks the entry, from dist/), against the emulator over TLS.
// Prints one JSON line with what it saw; the test checks it against what the emulator stored.
// Usage: bun device-scenario.mjs '<json: { instance, provisioningToken, deviceId, database, ca }>'
import process from 'node:process';
import { DeviceClient } from 'spotflow-device';

const config = JSON.parse(process.argv[2] ?? '{}');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const options = {
  provisioningToken: config.provisioningToken,
  instance: config.instance,
  deviceId: config.deviceId,
  database: config.database,
  logger: quiet,
  provisioningPollIntervalMs: 50,
  onProvisioningOperation: () => {},
};
const codeOf = (promise) =>
  promise.then(
    async (client) => {
      await client.close();
      return 'started';
    },
    (error) => error?.code ?? String(error),
  );

// TLS verification: without the emulator's CA the start is refused.
const untrusted = await codeOf(DeviceClient.start({ ...options, database: `${config.database}-untrusted` }));

const client = await DeviceClient.start({ ...options, ca: config.ca });
try {
  // One owner per database: a second client on it is refused at once.
  const second = await codeOf(DeviceClient.start({ ...options, ca: config.ca }));
  // 64 concurrent callers (group commit), Brotli-compressed.
  const text = 'temperature,21.5;'.repeat(100);
  const enqueued = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      client.enqueueMessage({ i, text }, { stream: 'runtime', compression: 'fastest' }),
    ),
  );
  // Above the MQTT limit: goes through file upload (HTTPS to the emulator's blob storage).
  const big = await client.sendMessage(new Uint8Array(2_000_000).fill(7), { stream: 'runtime' });
  await client.waitEnqueuedMessagesSent();
  process.stdout.write(
    `${JSON.stringify({ untrusted, second, ids: enqueued.map((result) => result.id), bigId: big.id })}\n`,
  );
} finally {
  await client.close();
}
