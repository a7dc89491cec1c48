#!/usr/bin/env node
/**
 * `spotflow-emulator` / `npm run emulator`: runs the local Spotflow platform until SIGINT or SIGTERM.
 * Every flag also reads from an environment variable (SPOTFLOW_EMULATOR_<FLAG>, e.g. SPOTFLOW_EMULATOR_PORT).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EmulatorDependencyError, missingEmulatorPackages } from './dependencies.js';
import type { EmulatorOptions } from './index.js';
import { createLogger, type LogLevel } from './log.js';
import { settingProblem, workspaceIdPattern } from './state/workspace.js';

const usage = `Usage: spotflow-emulator [options]

  --port <n>                       port for HTTP, MQTT and WebSocket, plain and TLS (default 5080; 0 = any free)
  --host <addr>                    interface to listen on (default 127.0.0.1; 0.0.0.0 = all)
  --public-host <name>             host name devices use to reach the emulator, put in the instance URL,
                                   iotHubHostName and the TLS certificate (default localhost)
  --public-port <n>                port devices reach the emulator by, when a port mapping or proxy differs
                                   from --port (default: the port listened on; 443 is left out of names)
  --data-dir <dir>                 where state is kept (default ./.spotflow-emulator)
  --memory                         keep state in memory only
  --retain-messages <n>            most telemetry messages kept per device, oldest dropped first
                                   (default 100000; 0 = keep every message)
  --tls                            advertise an https:// instance URL
  --auto-approve                   approve every provisioning operation at once
  --json                           print one JSON line with the credentials once ready (logs go to stderr)
  --workspace-id <id>              fixed workspace id: letters, digits, - and _ (default: generated on first
                                   start; a data directory keeps its workspace id)
  --provisioning-token <token>     fixed provisioning token
  --api-token <token>              fixed management API token
  --sas-lifetime <seconds>         lifetime of SAS tokens issued by register (at least 1)
  --registration-token-lifetime <seconds>   (0 = registration tokens do not expire)
  --log-level <debug|info|warn|error|silent>   (default info)
  --version
  --help

Each option can also be set as SPOTFLOW_EMULATOR_<NAME> (e.g. SPOTFLOW_EMULATOR_AUTO_APPROVE=1); a flag wins over
its variable. On/off options take --no-<name> (e.g. --no-auto-approve) and variables 1/0, true/false, yes/no or
on/off. Settings given here (--auto-approve, --sas-lifetime, --registration-token-lifetime) apply to this run only:
they override the workspace settings kept in the data directory without replacing them.`;

const onOff = ['memory', 'tls', 'auto-approve', 'json'] as const;

const flags = {
  port: { type: 'string' },
  host: { type: 'string' },
  'public-host': { type: 'string' },
  'public-port': { type: 'string' },
  'data-dir': { type: 'string' },
  'retain-messages': { type: 'string' },
  memory: { type: 'boolean' },
  'no-memory': { type: 'boolean' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  'auto-approve': { type: 'boolean' },
  'no-auto-approve': { type: 'boolean' },
  json: { type: 'boolean' },
  'no-json': { type: 'boolean' },
  'workspace-id': { type: 'string' },
  'provisioning-token': { type: 'string' },
  'api-token': { type: 'string' },
  'sas-lifetime': { type: 'string' },
  'registration-token-lifetime': { type: 'string' },
  'log-level': { type: 'string' },
  version: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

type Values = Record<string, string | boolean | undefined>;
type StringFlag = {
  [K in keyof typeof flags]: (typeof flags)[K]['type'] extends 'string' ? K : never;
}[keyof typeof flags];

function fail(message: string): never {
  process.stderr.write(`spotflow-emulator: ${message}\n\n${usage}\n`);
  process.exit(2);
}

const envName = (flag: string) => `SPOTFLOW_EMULATOR_${flag.toUpperCase().replaceAll('-', '_')}`;

/** The flag's value, else its environment variable's. */
function text(values: Values, flag: StringFlag): string | undefined {
  const value = values[flag];
  if (typeof value === 'string') return value;
  const env = process.env[envName(flag)];
  return env === undefined || env === '' ? undefined : env;
}

const truthy = ['1', 'true', 'yes', 'on'];
const falsy = ['0', 'false', 'no', 'off'];

/** `--name` → true, `--no-name` → false, else the environment variable (strictly on/off), else undefined. */
function onOrOff(values: Values, flag: (typeof onOff)[number]): boolean | undefined {
  const on = values[flag] === true;
  const off = values[`no-${flag}`] === true;
  if (on && off) fail(`--${flag} and --no-${flag} contradict each other`);
  if (on || off) return on;
  const env = process.env[envName(flag)];
  if (env === undefined || env === '') return undefined;
  if (truthy.includes(env.toLowerCase())) return true;
  if (falsy.includes(env.toLowerCase())) return false;
  fail(`${envName(flag)} must be one of ${[...truthy, ...falsy].join(', ')} (got "${env}")`);
}

function seconds(value: string | undefined, flag: string, setting: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  const refused = settingProblem(setting, n);
  if (refused) fail(`--${flag}: ${refused.replace(setting, 'it')}`);
  return n;
}

function packageVersion(): string {
  const manifest = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  let values: Values;
  try {
    values = parseArgs({ options: flags, strict: true, allowPositionals: false }).values;
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  // The server stack is an optional peer dependency: name what to install (one line, no trace) before loading it.
  const missing = await missingEmulatorPackages();
  if (missing.length > 0) throw new EmulatorDependencyError(missing);
  const { isValidPublicHost, startEmulator } = await import('./index.js');
  const level = (text(values, 'log-level') ?? 'info') as LogLevel | 'silent';
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) fail('--log-level is not a level');
  const port = text(values, 'port');
  const portNumber = port === undefined ? undefined : /^\d+$/.test(port) ? Number(port) : Number.NaN;
  if (portNumber !== undefined && (!Number.isInteger(portNumber) || portNumber > 65535)) {
    fail('--port must be 0-65535');
  }
  const publicHost = text(values, 'public-host');
  if (publicHost !== undefined && !isValidPublicHost(publicHost)) {
    fail('--public-host must be a host name or an IPv4 address');
  }
  const publicPortText = text(values, 'public-port');
  const publicPort =
    publicPortText === undefined ? undefined : /^\d{1,5}$/.test(publicPortText) ? Number(publicPortText) : 0;
  if (publicPort !== undefined && (publicPort < 1 || publicPort > 65535))
    fail('--public-port must be 1-65535');
  const workspaceId = text(values, 'workspace-id');
  if (workspaceId !== undefined && !workspaceIdPattern.test(workspaceId)) {
    fail('--workspace-id must be 1-64 characters: letters, digits, - and _');
  }
  const retainText = text(values, 'retain-messages');
  const retainMessages =
    retainText === undefined ? undefined : /^\d+$/.test(retainText) ? Number(retainText) : Number.NaN;
  if (retainMessages !== undefined && !Number.isSafeInteger(retainMessages)) {
    fail('--retain-messages must be a whole number, 0 or more (0 = keep every message)');
  }
  const json = onOrOff(values, 'json') === true;
  const memory = onOrOff(values, 'memory') === true;
  const tls = onOrOff(values, 'tls') === true;
  // Settings for this run only (see the usage text).
  const settings: EmulatorOptions['settings'] = {};
  const autoApprove = onOrOff(values, 'auto-approve');
  if (autoApprove !== undefined) settings.autoApprove = autoApprove;
  const sas = seconds(text(values, 'sas-lifetime'), 'sas-lifetime', 'sasTokenLifetimeSeconds');
  if (sas !== undefined) settings.sasTokenLifetimeSeconds = sas;
  const rt = seconds(
    text(values, 'registration-token-lifetime'),
    'registration-token-lifetime',
    'registrationTokenLifetimeSeconds',
  );
  if (rt !== undefined) settings.registrationTokenLifetimeSeconds = rt;

  const logger = createLogger(level, (line) => process.stderr.write(`${line}\n`));
  // A rejection nobody handled belongs to one request or connection: log it and keep serving the others.
  // (An uncaught exception still ends the process: its state may be broken.)
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled rejection (the emulator keeps running)', {
      error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
    });
  });

  const emulator = await startEmulator({
    port: portNumber,
    host: text(values, 'host'),
    publicHost,
    publicPort,
    dataDir: text(values, 'data-dir'),
    memory,
    retainMessages,
    tls,
    workspaceId,
    provisioningToken: text(values, 'provisioning-token'),
    apiToken: text(values, 'api-token'),
    settings,
    logger,
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
    const { instance, provisioningToken, workspaceId: id, apiToken, caFile, portalUrl } = emulator;
    process.stdout.write(
      `${JSON.stringify({ instance, provisioningToken, workspaceId: id, apiToken, caFile, portalUrl })}\n`,
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
