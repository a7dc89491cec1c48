import { invalidArgument } from './errors.js';
import { isValidDeviceId } from './iothub/device-id.js';
import { consoleLogger, type Logger, safeLogger } from './logger.js';
import { DeviceStore } from './store/device-store.js';
import type { JsonObject } from './twin/merge-patch.js';
import { DEFAULT_BACKOFF } from './util/backoff.js';
import { Secrets } from './util/secrets.js';

/** What the display callback receives: show `verificationCode` to the technician who approves the device. */
export interface ProvisioningOperation {
  /** The provisioning operation's id. */
  id: string;
  /** The code the technician compares with the one the portal shows before approving. */
  verificationCode: string;
  /** When the operation expires unapproved; the device then starts a new one. */
  expirationTime: Date;
}

/** The device twin's desired properties: what the cloud wants the device's settings to be. */
export interface DesiredProperties {
  /** The version the hub gave them; it grows with every change. */
  version: number;
  /** The properties themselves (without `$version`). */
  values: JsonObject;
}

/** What happens when an outbox limit is reached. */
export type OutboxPolicy = 'reject' | 'dropOldest';

/** How much the outbox may hold before {@link OutboxLimits.policy} applies; an unset limit keeps its default. */
export interface OutboxLimits {
  /** Most messages kept waiting. */
  maxMessages?: number;
  /** Most payload bytes kept waiting. */
  maxBytes?: number;
  /** Messages older than this are dropped (policy `dropOldest`) or block new ones (`reject`). */
  maxAgeMs?: number;
  /** Default `reject`: new messages fail with `OUTBOX_FULL`. `dropOldest` discards the oldest, with an `outboxFull` event. */
  policy?: OutboxPolicy;
}

/** Options of {@link DeviceClient.start}. Every option except `provisioningToken` and `database` is optional. */
export interface StartOptions {
  /** The workspace's Provisioning Token (long-lived, shared by many devices). */
  provisioningToken: string;
  /** Where the SDK keeps its state: a file path in Node, an IndexedDB database name in browsers. */
  database: string;
  /** The device id to ask for; omitted = the platform picks one. */
  deviceId?: string;
  /** The platform instance: a URL or a bare host name (= `https://HOST`). Default `https://api.eu1.spotflow.io`. */
  instance?: string;
  /** Aborts `start` (provisioning can wait for a technician for a long time). */
  signal?: AbortSignal;
  /** Where the SDK logs. Default: `console`, warnings and errors only. Tokens are never logged. */
  logger?: Logger;
  /** Shows the verification code to whoever approves the device. Default: print it with `console.log`. */
  onProvisioningOperation?: (operation: ProvisioningOperation) => void | Promise<void>;
  /** Called when the desired properties change (their version advanced). */
  onDesiredProperties?: (desired: DesiredProperties) => void;
  /** Allow plain `http://`/`ws://`/`mqtt://` to hosts other than loopback. Default false. */
  allowInsecure?: boolean;
  /** MQTT transport. Default: TCP in Node, WebSockets in browsers. */
  transport?: 'tcp' | 'websocket';
  /** Delay between polls of a pending provisioning operation. Default 5000 ms. */
  provisioningPollIntervalMs?: number;
  /** MQTT keep-alive; a dead link is noticed after 1.5 times this. Default 60 s (IoT Hub allows up to 1177). */
  keepAliveSeconds?: number;
  /** QoS 1 publishes in flight at once. Default 64. */
  maxInFlight?: number;
  /** Reconnect backoff: first delay and cap. Defaults 1 s and 60 s, with jitter. */
  reconnectInitialDelayMs?: number;
  /** See `reconnectInitialDelayMs`. */
  reconnectMaxDelayMs?: number;
  /** Optional outbox limits; none by default (the outbox grows with the disk). */
  outboxLimits?: OutboxLimits;
}

/**
 * Start options of a device whose rows live in a {@link DeviceStore} shared with the other devices of the process
 * (a gateway), instead of a `database` of its own. `deviceId` is required: it names the device's rows.
 */
export interface StoreStartOptions extends Omit<StartOptions, 'database' | 'deviceId'> {
  /** The store, opened with `DeviceStore.open`. */
  store: DeviceStore;
  /** The device's id: asked for at provisioning, and the key of its rows in the store. */
  deviceId: string;
  /** Not with `store`. */
  database?: undefined;
}

export interface ResolvedOptions {
  provisioningToken: string;
  /** The device's own database; undefined with `store`. */
  database: string | undefined;
  store: DeviceStore | undefined;
  deviceId: string | undefined;
  instance: string;
  signal: AbortSignal | undefined;
  logger: Logger;
  /** Every secret the client holds, to scrub server text that reaches an error or a log (starts with the token). */
  secrets: Secrets;
  onProvisioningOperation: (operation: ProvisioningOperation) => void | Promise<void>;
  onDesiredProperties: ((desired: DesiredProperties) => void) | undefined;
  allowInsecure: boolean;
  transport: 'tcp' | 'websocket' | undefined;
  provisioningPollIntervalMs: number;
  keepAliveSeconds: number;
  maxInFlight: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
  outboxLimits: Required<Omit<OutboxLimits, 'policy'>> & { policy: OutboxPolicy };
}

export const defaultInstance = 'https://api.eu1.spotflow.io';

function defaultDisplay(operation: ProvisioningOperation): void {
  console.log(
    `[spotflow] Approve this device in the Spotflow portal. Verification code: ${operation.verificationCode} ` +
      `(operation ${operation.id}, expires ${operation.expirationTime.toISOString()})`,
  );
}

const loopbackHosts = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** True for `localhost`, `127.x.x.x` and `[::1]`: the only hosts plain transports may reach by default. */
export function isLoopbackHost(hostname: string): boolean {
  return loopbackHosts.test(hostname);
}

/** A bare host name means `https://HOST`; a URL keeps its scheme. Trailing slashes go. */
export function normalizeInstance(instance: string, allowInsecure: boolean): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(instance) ? instance : `https://${instance}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidArgument('instance must be a URL or a host name');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalidArgument('instance must be http(s)');
  if (url.protocol === 'http:' && !allowInsecure && !isLoopbackHost(url.hostname)) {
    throw invalidArgument('plain http:// is allowed only for loopback hosts unless allowInsecure is set');
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * Every start option, so that a misspelt one (`deviceID`) is refused instead of silently ignored: ignoring it would
 * provision the device under an id the platform picks. `satisfies` keeps this list in step with the interface.
 * Platform options (Node's `ca`, the browser's `waitForLock`) are not here: each runtime's entry takes its own off
 * before calling the core, so the core refuses them if it is called directly.
 */
const startOptionKeys = Object.keys({
  provisioningToken: true,
  database: true,
  deviceId: true,
  instance: true,
  signal: true,
  logger: true,
  onProvisioningOperation: true,
  onDesiredProperties: true,
  allowInsecure: true,
  transport: true,
  provisioningPollIntervalMs: true,
  keepAliveSeconds: true,
  maxInFlight: true,
  reconnectInitialDelayMs: true,
  reconnectMaxDelayMs: true,
  outboxLimits: true,
  store: true,
} satisfies Record<keyof StartOptions | keyof StoreStartOptions, true>);

const outboxLimitKeys = Object.keys({
  maxMessages: true,
  maxBytes: true,
  maxAgeMs: true,
  policy: true,
} satisfies Record<keyof OutboxLimits, true>);

function rejectUnknownKeys(given: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) throw invalidArgument(`Unknown ${what} ${JSON.stringify(key.slice(0, 64))}`);
  }
}

/**
 * A bearer token is visible ASCII without spaces (RFC 6750 `b64token`). A line break read along with it from a file
 * or an environment variable would otherwise reach the HTTP layer, which refuses the header on every attempt and
 * leaves start retrying forever; the message does not quote the token.
 */
const tokenCharacters = /^[\x21-\x7e]+$/;

/** `undefined`, or a non-empty string of at most `max` characters (INVALID_ARGUMENT naming `name` otherwise). */
export function optionalString(value: unknown, name: string, max = 1024): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw invalidArgument(`${name} must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

function positiveNumber(
  value: unknown,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw invalidArgument(
      `${name} must be a positive number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`,
    );
  }
  return value;
}

/** Like {@link positiveNumber}, for counts and protocol fields that only take whole numbers. */
function positiveInteger(
  value: unknown,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const number = positiveNumber(value, name, fallback, max);
  if (value !== undefined && !Number.isInteger(number))
    throw invalidArgument(`${name} must be a whole number`);
  return number;
}

function optionalFunction<T>(value: unknown, name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidArgument(`${name} must be a function`);
  return value as T;
}

/** Checks every start option and fills in defaults; never mutates the caller's object. */
export function resolveOptions(options: StartOptions | StoreStartOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('start options are required');
  rejectUnknownKeys(options, startOptionKeys, 'start option');
  const provisioningToken = optionalString(options.provisioningToken, 'provisioningToken', 4096);
  if (provisioningToken === undefined) throw invalidArgument('provisioningToken is required');
  if (!tokenCharacters.test(provisioningToken)) {
    throw invalidArgument(
      'provisioningToken may contain only visible ASCII characters (no spaces or line breaks: trim it)',
    );
  }
  const database = optionalString(options.database, 'database', 4096);
  const store = 'store' in options ? options.store : undefined;
  if (store !== undefined && !(store instanceof DeviceStore)) {
    throw invalidArgument('store must be a DeviceStore (DeviceStore.open)');
  }
  if (database === undefined && store === undefined) throw invalidArgument('database is required');
  if (database !== undefined && store !== undefined) {
    throw invalidArgument('database and store are exclusive: a device keeps its rows in one of them');
  }
  const deviceId = optionalString(options.deviceId, 'deviceId', 128);
  if (deviceId !== undefined && !isValidDeviceId(deviceId)) {
    throw invalidArgument("deviceId may contain only letters, digits and -._*?!(),:=@$'");
  }
  if (store !== undefined && deviceId === undefined) {
    throw invalidArgument("deviceId is required with store: it names the device's rows");
  }
  const allowInsecure = options.allowInsecure === true;
  if (options.allowInsecure !== undefined && typeof options.allowInsecure !== 'boolean') {
    throw invalidArgument('allowInsecure must be a boolean');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument('signal must be an AbortSignal');
  }
  const logger = options.logger;
  if (logger !== undefined) {
    for (const method of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof logger?.[method] !== 'function')
        throw invalidArgument(`logger.${method} must be a function`);
    }
  }
  if (options.transport !== undefined && options.transport !== 'tcp' && options.transport !== 'websocket') {
    throw invalidArgument("transport must be 'tcp' or 'websocket'");
  }
  const limits = options.outboxLimits ?? {};
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw invalidArgument('outboxLimits must be an object');
  }
  rejectUnknownKeys(limits, outboxLimitKeys, 'outboxLimits option');
  if (limits.policy !== undefined && limits.policy !== 'reject' && limits.policy !== 'dropOldest') {
    throw invalidArgument("outboxLimits.policy must be 'reject' or 'dropOldest'");
  }
  const secrets = new Secrets();
  secrets.add(provisioningToken, { pinned: true });
  return {
    provisioningToken,
    database,
    store,
    deviceId,
    instance: normalizeInstance(
      optionalString(options.instance, 'instance') ?? defaultInstance,
      allowInsecure,
    ),
    signal: options.signal,
    logger: safeLogger(logger ?? consoleLogger('warn'), secrets),
    secrets,
    onProvisioningOperation:
      optionalFunction(options.onProvisioningOperation, 'onProvisioningOperation') ?? defaultDisplay,
    onDesiredProperties: optionalFunction(options.onDesiredProperties, 'onDesiredProperties'),
    allowInsecure,
    transport: options.transport,
    provisioningPollIntervalMs: positiveNumber(
      options.provisioningPollIntervalMs,
      'provisioningPollIntervalMs',
      5000,
    ),
    // MQTT carries whole seconds: 0.5 would be sent as 0, which switches keep-alive off.
    keepAliveSeconds: positiveInteger(options.keepAliveSeconds, 'keepAliveSeconds', 60, 1177),
    maxInFlight: positiveInteger(options.maxInFlight, 'maxInFlight', 64, 65535),
    reconnectInitialDelayMs: positiveNumber(
      options.reconnectInitialDelayMs,
      'reconnectInitialDelayMs',
      DEFAULT_BACKOFF.initialMs,
    ),
    reconnectMaxDelayMs: positiveNumber(
      options.reconnectMaxDelayMs,
      'reconnectMaxDelayMs',
      DEFAULT_BACKOFF.maxMs,
    ),
    outboxLimits: {
      maxMessages: positiveInteger(limits.maxMessages, 'outboxLimits.maxMessages', Number.POSITIVE_INFINITY),
      maxBytes: positiveInteger(limits.maxBytes, 'outboxLimits.maxBytes', Number.POSITIVE_INFINITY),
      maxAgeMs: positiveNumber(limits.maxAgeMs, 'outboxLimits.maxAgeMs', Number.POSITIVE_INFINITY),
      policy: limits.policy ?? 'reject',
    },
  };
}
