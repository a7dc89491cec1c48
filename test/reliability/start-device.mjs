// Child process for the hostile-server suite: starts a client (the compiled SDK, dist/) against the instance it is
// given and prints, as JSON lines on stdout, everything the SDK logs and how start() ended; the error itself goes to
// stderr the way an application would print it (util.inspect, causes included). The test greps all of it for tokens.
// Usage: node start-device.mjs '<json: { instance, provisioningToken, database, deviceId, startTimeoutMs }>'
import { inspect } from 'node:util';
import { createNodePlatform } from '../../dist/platform/node/index.js';
import { DeviceClient } from '../../dist/src/client.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const started = performance.now();
const elapsed = () => Math.round(performance.now() - started);
const line = (level) => (message, fields) =>
  process.stdout.write(`${JSON.stringify({ t: elapsed(), level, message, fields })}\n`);
const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };

try {
  const client = await DeviceClient.startOn(createNodePlatform(), {
    provisioningToken: config.provisioningToken,
    instance: config.instance,
    database: config.database,
    deviceId: config.deviceId,
    logger,
    provisioningPollIntervalMs: 100,
    signal: AbortSignal.timeout(config.startTimeoutMs),
  });
  process.stdout.write(`${JSON.stringify({ t: elapsed(), outcome: 'started' })}\n`);
  await client.close();
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ t: elapsed(), outcome: 'rejected', code: error?.code, message: error?.message })}\n`,
  );
  process.stderr.write(`${inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })}\n`);
}
