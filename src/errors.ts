/**
 * The one error type the SDK throws or reports, told apart by a string `code` rather than by subclass, so that
 * callers can `switch` on it and so that it survives being bundled twice.
 *
 * Messages are written for people and may be logged anywhere, therefore they must never contain a provisioning
 * token, a registration token, a SAS token or signature, or any other secret. Code that builds a message from
 * server data names the field that was wrong, not its value; the raw value, when useful, goes in `cause` only if
 * it is known not to be secret.
 */

/** Every code a {@link SpotflowError} can carry, in a frozen list (handy for exhaustiveness checks and docs). */
export const SPOTFLOW_ERROR_CODES = Object.freeze([
  /** The caller passed something unusable; thrown at the call, before anything is stored. */
  'INVALID_ARGUMENT',
  /** The platform refused provisioning (401 invalid provisioning token, or 400 with a problem `title`). */
  'PROVISIONING_REJECTED',
  /** A technician cancelled the provisioning operation. */
  'PROVISIONING_CANCELLED',
  /** The provisioning operation expired before it was approved. */
  'PROVISIONING_EXPIRED',
  /** The workspace is disabled (HTTP 423). */
  'WORKSPACE_DISABLED',
  /** The stored registration is unusable (token invalid or expired); the device must provision again. */
  'REGISTRATION_INVALID',
  /** The local database cannot be opened or written. */
  'DATABASE_UNAVAILABLE',
  /** The local database exists but its content is damaged or of an unknown schema. */
  'DATABASE_CORRUPT',
  /** Another process or browser tab owns the database. */
  'DATABASE_LOCKED',
  /** The client was closed; no further calls are accepted. */
  'CLIENT_CLOSED',
  /** The caller's AbortSignal fired. */
  'ABORTED',
  /**
   * An operation did not finish in the time allowed (an HTTP answer whose headers and body did not both arrive within
   * the call's deadline is one: retried in the background like NETWORK).
   */
  'TIMEOUT',
  /** The outbox reached its configured limit and the policy rejects new messages. */
  'OUTBOX_FULL',
  /** The network failed (connection refused, DNS, reset...); retried in the background. */
  'NETWORK',
  /**
   * The server's TLS certificate cannot be verified (unknown CA, self-signed, expired, wrong name); not retried, as
   * waiting does not fix it. The message names the host.
   */
  'TLS',
  /** The IoT hub refused the device's credentials (MQTT CONNACK 4 or 5); new ones are requested. */
  'CONNECTION_REFUSED',
  /** A server response was malformed; server data is untrusted and checked before use. */
  'PROTOCOL',
  /** A large payload could not be uploaded to blob storage. */
  'UPLOAD_FAILED',
  /**
   * A package the platform needs is not installed (an optional peer dependency of Node's platform: `better-sqlite3`,
   * or `undici` for the `ca` option); the message names it and how to install it. Browsers need none: sql.js and
   * Brotli ship inside the package's workers.
   */
  'DEPENDENCY_MISSING',
  /**
   * `DeviceClient.start` of the core entry (`spotflow-device/core`), which has no platform, was called: import
   * `DeviceClient` from `spotflow-device` (or `/node`, `/browser`), or call `DeviceClient.startOn(platform, options)`.
   */
  'PLATFORM_REQUIRED',
  /** A bug in the SDK: something that should not happen did. */
  'INTERNAL',
] as const);

/** The string-literal union of {@link SPOTFLOW_ERROR_CODES}. */
export type SpotflowErrorCode = (typeof SPOTFLOW_ERROR_CODES)[number];

/**
 * A global (registry) symbol, identical in every copy of the package that is loaded, so
 * {@link isSpotflowError} recognises errors made by another copy where `instanceof` would not.
 */
const SPOTFLOW_ERROR_BRAND: unique symbol = Symbol.for('spotflow-device.SpotflowError');

/**
 * The SDK's error. Tell errors apart by `code` (see {@link isSpotflowError}); the underlying failure, if any, is
 * the standard `cause`.
 *
 * @example
 * try { await client.enqueueMessage(payload); }
 * catch (error) { if (isSpotflowError(error, 'OUTBOX_FULL')) backOff(); else throw error; }
 */
export class SpotflowError extends Error {
  /** What went wrong, as a stable machine-readable string. */
  readonly code: SpotflowErrorCode;

  /** @param message for people; must not contain tokens or other secrets (see the module comment). */
  constructor(code: SpotflowErrorCode, message: string, options?: { cause?: unknown }) {
    // Only pass `cause` when given, so errors without one have no `cause` property at all.
    super(message, options !== undefined && 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
  }
}

// On the prototype rather than on each instance, like the built-in errors: not enumerable, so neither shows up
// as an extra field in logs or JSON.
Object.defineProperty(SpotflowError.prototype, 'name', {
  value: 'SpotflowError',
  writable: true,
  configurable: true,
});
Object.defineProperty(SpotflowError.prototype, SPOTFLOW_ERROR_BRAND, { value: true });

/**
 * True when `value` is a {@link SpotflowError} (from this or any other loaded copy of the package), and, when
 * `code` is given, carries that code.
 */
export function isSpotflowError<C extends SpotflowErrorCode = SpotflowErrorCode>(
  value: unknown,
  code?: C,
): value is SpotflowError & {
  /** The code asked for. */
  readonly code: C;
} {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { [SPOTFLOW_ERROR_BRAND]?: unknown; code?: unknown };
  // Any string code is accepted without `code`: a newer copy of the package may know codes this one does not.
  if (candidate[SPOTFLOW_ERROR_BRAND] !== true || typeof candidate.code !== 'string') return false;
  return code === undefined || candidate.code === code;
}

/**
 * `error` itself when it is already a {@link SpotflowError}, otherwise an `INTERNAL` one saying `what` failed, with
 * `error` as its cause: how a background loop turns whatever it caught into something it can report.
 */
export function asSpotflowError(error: unknown, what: string): SpotflowError {
  return isSpotflowError(error) ? error : new SpotflowError('INTERNAL', what, { cause: error });
}

/** An `INVALID_ARGUMENT` error, the kind thrown at the call before anything is stored. */
export function invalidArgument(message: string, options?: { cause?: unknown }): SpotflowError {
  return new SpotflowError('INVALID_ARGUMENT', message, options);
}

/**
 * The error to reject with when `signal` aborts. When the signal's reason is already a SpotflowError (for
 * example `CLIENT_CLOSED` from `close()`) it is returned unchanged, so the caller learns why. A standard
 * `TimeoutError` reason (from `AbortSignal.timeout()`) becomes `TIMEOUT`; anything else becomes `ABORTED` with the
 * reason as `cause`.
 */
export function abortedError(signal?: AbortSignal): SpotflowError {
  const reason: unknown = signal?.reason;
  if (isSpotflowError(reason)) return reason;
  if (isNamedError(reason, 'TimeoutError')) {
    return new SpotflowError('TIMEOUT', 'The operation timed out', { cause: reason });
  }
  return new SpotflowError(
    'ABORTED',
    'The operation was aborted',
    reason === undefined ? undefined : { cause: reason },
  );
}

function isNamedError(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && (value as { name?: unknown }).name === name;
}
