/**
 * Retry pacing for the background loops (token handler, MQTT session, uploads). Jitter spreads out devices that
 * failed together — after a hub outage, a fleet must not reconnect in lockstep.
 */
import { abortedError, invalidArgument } from '../errors.js';
import type { Clock, TimerHandle } from '../ports.js';

/**
 * The one default pacing for every retry loop (and the defaults of the `reconnect*DelayMs` options): 1 s first,
 * doubling, capped at 60 s, up to half of each delay taken off at random.
 */
export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.5 });

export interface BackoffOptions {
  /** Delay before the first retry (attempt 0), in ms. Default 1000. */
  initialMs?: number;
  /** Upper bound of the delay, in ms. Default 60 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay that may be randomly taken off, 0 (none) to 1 (anything down to 0). Default 0.5. */
  jitter?: number;
  /** Source of randomness in [0, 1); replace it in tests. Default `Math.random`. */
  random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry), in ms:
 * `min(maxMs, initialMs · factor^attempt) · (1 − jitter · random())`. With the defaults: 0.5–1 s, 1–2 s, 2–4 s, …
 * up to 30–60 s.
 *
 * @throws SpotflowError `INVALID_ARGUMENT` for negative delays, a factor below 1 or a jitter outside [0, 1].
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const {
    initialMs = DEFAULT_BACKOFF.initialMs,
    maxMs = DEFAULT_BACKOFF.maxMs,
    factor = DEFAULT_BACKOFF.factor,
    jitter = DEFAULT_BACKOFF.jitter,
    random = Math.random,
  } = options;
  if (!(initialMs >= 0) || !(maxMs >= 0)) throw invalidArgument('backoff delays must be 0 or more');
  if (!(factor >= 1) || factor === Number.POSITIVE_INFINITY)
    throw invalidArgument('backoff factor must be ≥ 1');
  if (!(jitter >= 0 && jitter <= 1)) throw invalidArgument('backoff jitter must be between 0 and 1');
  const exponent = attempt > 0 ? Math.floor(attempt) : 0; // NaN and negatives count as the first attempt
  // 0 · Infinity is NaN: a zero initial delay stays zero however many attempts were made.
  const grown = initialMs === 0 ? 0 : initialMs * factor ** exponent;
  const capped = Math.min(maxMs, grown);
  const fraction = Math.min(Math.max(random(), 0), 1);
  return capped * (1 - jitter * fraction);
}

/** setTimeout's limit (2^31 − 1 ms, about 24.8 days); longer timers fire at once in Node and browsers, so sleep
 * chains them. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves after `ms` milliseconds on `clock`, or rejects with the error of {@link abortedError} as soon as `signal` aborts
 * (at once if it already has), clearing its timer and listener either way. Sleeps longer than the platform's
 * timer limit (about 24.8 days, e.g. until a long-lived token's refresh time) are split into several timers.
 * Negative or NaN durations sleep 0 ms; `Infinity` sleeps until the signal aborts.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal));
      return;
    }
    let remaining = Number.isNaN(ms) ? 0 : Math.max(ms, 0);
    let timer: TimerHandle;
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(abortedError(signal));
    };
    const schedule = () => {
      const step = Math.min(remaining, MAX_TIMER_MS);
      remaining -= step;
      timer = clock.setTimeout(() => {
        if (remaining > 0) {
          schedule();
          return;
        }
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, step);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    schedule();
  });
}
