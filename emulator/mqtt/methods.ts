import type { EmulatorContext } from '../context.js';
import { nestsDeeperThan } from '../state/twin-rules.js';

export interface MethodResult {
  status: number;
  payload: unknown;
}

/**
 * How deep a method payload (request or response) may nest. JSON.parse takes any depth, but writing such a value
 * out again (JSON.stringify, for the management API's answer) overflows the stack.
 */
export const maxMethodPayloadDepth = 128;

export class MethodTimeout extends Error {}
export class DeviceNotListening extends Error {}
/** The device answered with a payload the emulator cannot pass on. */
export class InvalidMethodResponse extends Error {}

/** Direct method calls in flight, keyed by device and `$rid`. */
export class MethodCalls {
  readonly #pending = new Map<string, (result: MethodResult | Error) => void>();
  #nextRid = 1;

  constructor(private readonly context: EmulatorContext) {}

  invoke(deviceId: string, name: string, payload: unknown, timeoutMs: number): Promise<MethodResult> {
    if (!this.context.links.isSubscribed(deviceId, '$iothub/methods/POST/#')) {
      return Promise.reject(
        new DeviceNotListening(`device ${deviceId} is not connected or not listening for methods`),
      );
    }
    const rid = (this.#nextRid++).toString(16);
    const key = `${deviceId}\n${rid}`;
    return new Promise<MethodResult>((resolve, reject) => {
      const { clock } = this.context;
      const timer = clock.setTimeout(() => {
        this.#pending.delete(key);
        reject(new MethodTimeout(`device ${deviceId} did not answer ${name} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(key, (result) => {
        clock.clearTimeout(timer);
        if (result instanceof Error) reject(result);
        else resolve(result);
      });
      const body = Buffer.from(JSON.stringify(payload ?? null));
      this.context.links.send(
        deviceId,
        `$iothub/methods/POST/${encodeURIComponent(name)}/?$rid=${rid}`,
        body,
      );
    });
  }

  /** A device's answer; answers nobody waits for (late, or a guessed `$rid`) are dropped. */
  settle(deviceId: string, rid: string, status: number, payload: Buffer): void {
    const key = `${deviceId}\n${rid}`;
    const resolve = this.#pending.get(key);
    if (!resolve) return;
    this.#pending.delete(key);
    let body: unknown = null;
    if (payload.length > 0) {
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        body = payload.toString('utf8');
      }
    }
    if (nestsDeeperThan(body, maxMethodPayloadDepth)) {
      this.context.log.warn('method response refused: payload nests too deep', { deviceId });
      resolve(
        new InvalidMethodResponse(
          `device ${deviceId} answered with a payload nesting deeper than ${maxMethodPayloadDepth} levels`,
        ),
      );
      return;
    }
    resolve({ status, payload: body });
  }
}
