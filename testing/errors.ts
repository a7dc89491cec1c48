import type { ProblemView } from '../emulator/http/wire.js';

/**
 * A management API call the emulator refused: its HTTP status and RFC 7807 problem, and which call it was.
 *
 * @example
 * ```ts
 * try {
 *   await api.callMethod('kiosk-1', 'identify');
 * } catch (error) {
 *   if (error instanceof EmulatorApiError && error.status === 404) console.log('the device is offline');
 * }
 * ```
 */
export class EmulatorApiError extends Error {
  /** Always `EmulatorApiError`. */
  override name = 'EmulatorApiError';

  constructor(
    /** e.g. `POST /devices/kiosk-1/methods/identify` (below the workspace). */
    readonly call: string,
    /** The HTTP status of the answer. */
    readonly status: number,
    /** The problem details of the answer (empty when its body was not JSON). */
    readonly problem: ProblemView,
  ) {
    super(
      `${call}: HTTP ${status}${problem.title ? ` ${problem.title}` : ''}${problem.detail ? ` (${problem.detail})` : ''}`,
    );
  }
}

/** A wait of the management client ran out of time; the message names what was awaited and what was seen last. */
export class WaitTimeoutError extends Error {
  /** Always `WaitTimeoutError`. */
  override name = 'WaitTimeoutError';

  constructor(
    /** What was awaited, e.g. `3 messages of device "kiosk-1" in stream "readings"`. */
    readonly awaited: string,
    /** How long it waited, in ms. */
    readonly timeoutMs: number,
    /** What the last look found, e.g. `1 arrived`. */
    readonly lastSeen: string | undefined,
  ) {
    super(
      `timed out after ${timeoutMs} ms waiting for ${awaited}${lastSeen ? `; last seen: ${lastSeen}` : ''}`,
    );
  }
}
