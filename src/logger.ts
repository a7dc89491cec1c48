/**
 * The SDK's pluggable logger. Pass any object with these four methods (pino, winston and console fit with a thin
 * wrapper). Field values whose key looks secret are replaced before they reach the logger, so a token never
 * appears in a log even when a caller logs a whole object.
 */
import type { Secrets } from './util/secrets.js';

/** Where the SDK logs: any object with these four methods (see {@link consoleLogger}); secrets arrive redacted. */
export interface Logger {
  /** Detail for troubleshooting. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Notable events in the client's life. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something failed and will be retried (a lost connection, a background error with no listener). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed that needs attention. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The least severe level a logger passes on; `silent` passes nothing. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const secretKey = /token|password|secret|signature|sas|sig$|connectionstring|authorization|key$/i;

/**
 * Copies `fields`, replacing values under secret-looking keys (at any depth) with `[redacted]`; strings and error
 * messages go through `scrub` (which takes out secrets a server may have put into them).
 */
export function redact(
  fields: Record<string, unknown>,
  scrub: (text: string) => string = (text) => text,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (secretKey.test(key)) out[key] = '[redacted]';
    else if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Error)) {
      out[key] = redact(value as Record<string, unknown>, scrub);
    } else if (value instanceof Error) out[key] = scrub(`${value.name}: ${value.message}`);
    else if (typeof value === 'string') out[key] = scrub(value);
    else out[key] = value;
  }
  return out;
}

/**
 * Wraps a user logger so every call is redacted (and, with `secrets`, scrubbed of every secret the client holds)
 * and a throwing logger cannot break the SDK.
 */
export function safeLogger(logger: Logger, secrets?: Secrets): Logger {
  const scrub = (text: string) => (secrets ? secrets.scrub(text) : text);
  const wrap =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        if (fields) logger[level](scrub(message), redact(fields, scrub));
        else logger[level](scrub(message));
      } catch {
        // A broken logger must not take the device down.
      }
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

const order: Record<Exclude<LogLevel, 'silent'>, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that writes to the global `console` from `level` up. The default is `warn`. */
export function consoleLogger(level: LogLevel = 'warn'): Logger {
  const make =
    (at: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (level === 'silent' || order[at] < order[level]) return;
      const line = `[spotflow] ${message}`;
      if (fields && Object.keys(fields).length > 0) console[at](line, fields);
      else console[at](line);
    };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}
