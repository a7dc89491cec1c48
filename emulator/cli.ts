#!/usr/bin/env node
/**
 * `spotflow-emulator` / `npm run emulator`: runs the local Spotflow platform until SIGINT or SIGTERM.
 * Every flag also reads from an environment variable (SPOTFLOW_EMULATOR_<FLAG>, e.g. SPOTFLOW_EMULATOR_PORT).
 */
import { parseArgs } from 'node:util';
import { type EmulatorOptions, startEmulator } from './index.js';
import { createLogger, type LogLevel } from './log.js';

const usage = `Usage: spotflow-emulator [options]

  --port <n>                       port for HTTP, MQTT and WebSocket, plain and TLS (default 5080; 0 = any free)
  --host <addr>                    interface to listen on (default 127.0.0.1)
  --data-dir <dir>                 where state is kept (default ./.spotflow-emulator)
  --memory                         keep state in memory only
  --tls                            advertise an https:// instance URL
  --auto-approve                   approve every provisioning operation at once
  --json                           print one JSON line with the credentials once ready (logs go to stderr)
  --workspace-id <id>              fixed workspace id (default: generated on first start)
  --provisioning-token <token>     fixed provisioning token
  --api-token <token>              fixed management API token
  --sas-lifetime <seconds>         lifetime of SAS tokens issued by register
  --registration-token-lifetime <seconds>
  --log-level <debug|info|warn|error|silent>   (default info)
  --help

Each option can also be set as SPOTFLOW_EMULATOR_<NAME> (e.g. SPOTFLOW_EMULATOR_AUTO_APPROVE=1).`;

const flags = {
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  memory: { type: 'boolean' },
  tls: { type: 'boolean' },
  'auto-approve': { type: 'boolean' },
  json: { type: 'boolean' },
  'workspace-id': { type: 'string' },
  'provisioning-token': { type: 'string' },
  'api-token': { type: 'string' },
  'sas-lifetime': { type: 'string' },
  'registration-token-lifetime': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const;

type Flag = keyof typeof flags;

function fail(message: string): never {
  process.stderr.write(`spotflow-emulator: ${message}\n\n${usage}\n`);
  process.exit(2);
}

/** The flag's value, else its environment variable. */
function read(
  values: Record<string, string | boolean | undefined>,
  flag: Flag,
): string | boolean | undefined {
  if (values[flag] !== undefined) return values[flag];
  const env = process.env[`SPOTFLOW_EMULATOR_${flag.toUpperCase().replaceAll('-', '_')}`];
  if (env === undefined || env === '') return undefined;
  return flags[flag].type === 'boolean' ? !['0', 'false', 'no'].includes(env.toLowerCase()) : env;
}

function seconds(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a whole number of seconds`);
  return n;
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ options: flags, strict: true, allowPositionals: false }).values;
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const level = (read(values, 'log-level') ?? 'info') as LogLevel | 'silent';
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) fail('--log-level is not a level');
  const port = read(values, 'port');
  const portNumber = port === undefined ? undefined : Number(port);
  if (portNumber !== undefined && (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535)) {
    fail('--port must be 0-65535');
  }
  const json = read(values, 'json') === true;
  const settings: EmulatorOptions['settings'] = {};
  if (read(values, 'auto-approve') === true) settings.autoApprove = true;
  const sas = seconds(read(values, 'sas-lifetime'), 'sas-lifetime');
  if (sas !== undefined) settings.sasTokenLifetimeSeconds = sas;
  const rt = seconds(read(values, 'registration-token-lifetime'), 'registration-token-lifetime');
  if (rt !== undefined) settings.registrationTokenLifetimeSeconds = rt;

  const emulator = await startEmulator({
    port: portNumber,
    host: read(values, 'host') as string | undefined,
    dataDir: read(values, 'data-dir') as string | undefined,
    memory: read(values, 'memory') === true,
    tls: read(values, 'tls') === true,
    workspaceId: read(values, 'workspace-id') as string | undefined,
    provisioningToken: read(values, 'provisioning-token') as string | undefined,
    apiToken: read(values, 'api-token') as string | undefined,
    settings,
    logger: createLogger(level, (line) => process.stderr.write(`${line}\n`)),
  });

  // Handlers go in before anything is printed: a script may signal as soon as it reads the first line.
  const stop = (signal: string) => {
    process.stderr.write(`spotflow-emulator: ${signal}, shutting down\n`);
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  if (json) {
    const { instance, provisioningToken, workspaceId, apiToken, caFile } = emulator;
    process.stdout.write(
      `${JSON.stringify({ instance, provisioningToken, workspaceId, apiToken, caFile })}\n`,
    );
  } else {
    process.stdout.write(
      [
        'Spotflow platform emulator is running.',
        `  Instance URL:        ${emulator.instance}`,
        `  Provisioning token:  ${emulator.provisioningToken}`,
        `  Workspace ID:        ${emulator.workspaceId}`,
        `  API token:           ${emulator.apiToken}`,
        `  CA certificate:      ${emulator.caFile}`,
        `  Portal:              ${emulator.portalUrl}`,
        'Press Ctrl+C to stop.',
        '',
      ].join('\n'),
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`spotflow-emulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
