/** The emulator's log: human lines on stderr by default, so stdout stays free for `--json`. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where the emulator logs (see {@link createLogger}); `fields` are structured details. */
export interface EmulatorLogger {
  /** Detail for troubleshooting (each request). */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Start, stop, provisioning and refused requests. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** A connection or stream that went wrong. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** A request the emulator failed to handle. */
  error(message: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The emulator's own logger: one line per entry, at `minimum` and above, handed to `write`. */
export function createLogger(minimum: LogLevel | 'silent', write: (line: string) => void): EmulatorLogger {
  const emit = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (minimum === 'silent' || order[level] < order[minimum]) return;
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: EmulatorLogger = createLogger('silent', () => {});
