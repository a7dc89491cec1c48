/** The emulator's log: human lines on stderr by default, so stdout stays free for `--json`. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface EmulatorLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(minimum: LogLevel | 'silent', write: (line: string) => void): EmulatorLogger {
  const emit = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (minimum === 'silent' || order[level] < order[minimum]) return;
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: EmulatorLogger = createLogger('silent', () => {});
