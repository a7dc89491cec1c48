import { randomUUID } from 'node:crypto';

/**
 * IoT Hub's numeric error codes the emulator answers with (the HTTP status times 1000 plus a detail, as IoT Hub's
 * "common error codes" list them). Microsoft's device clients look only at `errorCode` in a twin response body.
 */
export const hubErrorCodes = {
  /** 400004 ArgumentInvalid: the body cannot be parsed or fails validation (bad JSON, property name, depth). */
  argumentInvalid: 400004,
} as const;

/** The error body IoT Hub sends: `{ errorCode, trackingId, message, timestampUtc }`. */
export interface HubErrorBody {
  errorCode: number;
  trackingId: string;
  message: string;
  timestampUtc: string;
}

/**
 * An IoT Hub error body at `nowMs`. The tracking id has IoT Hub's shape (32 hex digits, gateway, time stamp) so that
 * code that logs or parses it sees what it would see in production.
 */
export function hubErrorBody(errorCode: number, message: string, nowMs: number): HubErrorBody {
  const at = new Date(nowMs);
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp = `${two(at.getUTCMonth() + 1)}/${two(at.getUTCDate())}/${at.getUTCFullYear()} ${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())}`;
  return {
    errorCode,
    trackingId: `${randomUUID().replaceAll('-', '')}-G:0-TimeStamp:${stamp}`,
    message,
    // IoT Hub writes seven fractional digits (.NET ticks); milliseconds padded keep the same shape.
    timestampUtc: at.toISOString().replace('Z', '0000Z'),
  };
}
