#!/usr/bin/env node
/**
 * The Node sample device on its own, against any instance (the emulator or the real platform):
 *
 *   node dist/demo/node/cli.js --instance http://localhost:5080 --provisioning-token <token> [--device-id node-1]
 *     [--database ./node-device.db] [--portal-url http://localhost:5080/portal] [--ca ca.crt]
 *
 * Ctrl-C stops it; starting it again resumes the same device (the registration is in the database).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runNodeDevice } from './device.js';
import { StatusLine } from './status-line.js';

const { values } = parseArgs({
  options: {
    instance: { type: 'string' },
    'provisioning-token': { type: 'string' },
    'device-id': { type: 'string', default: 'node-1' },
    database: { type: 'string', default: './node-device.db' },
    'portal-url': { type: 'string' },
    ca: { type: 'string' },
  },
});
const instance = values.instance ?? process.env.SPOTFLOW_INSTANCE;
const provisioningToken = values['provisioning-token'] ?? process.env.SPOTFLOW_PROVISIONING_TOKEN;
if (!instance || !provisioningToken) {
  process.stderr.write('Usage: node dist/demo/node/cli.js --instance <url> --provisioning-token <token>\n');
  process.exit(2);
}

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());
runNodeDevice({
  instance,
  provisioningToken,
  deviceId: values['device-id'],
  database: values.database,
  ...(values['portal-url'] === undefined ? {} : { portalUrl: values['portal-url'] }),
  ...(values.ca === undefined ? {} : { ca: readFileSync(values.ca, 'utf8') }),
  signal: stop.signal,
  status: new StatusLine(process.stdout),
}).then(
  () => process.exit(0),
  () => process.exit(1),
);
