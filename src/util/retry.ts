/**
 * Retrying calls to the platform: transient failures (the network, or the platform having a bad moment) are
 * retried with jittered backoff, and news from elsewhere can cut a wait short.
 */
import { abortedError, isSpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Clock } from '../ports.js';
import { backoffDelay, sleep } from './backoff.js';

/**
 * Errors worth retrying: the network or the platform having a bad moment, including an answer that did not arrive
 * within its deadline (`TIMEOUT` from an HTTP call; the caller's own signal is checked before this).
 */
export function isTransient(error: unknown): boolean {
  return isSpotflowError(error, 'NETWORK') || isSpotflowError(error, 'TIMEOUT');
}

/**
 * Runs `call`, retrying transient failures with jittered backoff until it succeeds, fails for good, or aborts.
 * `hurry`, when given, cuts the current wait short (the hub just refused our credentials: the network is back).
 */
export async function retrying<T>(
  call: () => Promise<T>,
  clock: Clock,
  log: Logger,
  signal: AbortSignal | undefined,
  hurry?: Hurry,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal);
      if (!isTransient(error)) throw error;
      const delay = backoffDelay(attempt);
      log.warn('Platform not reachable; retrying', { error, retryInMs: Math.round(delay) });
      await (hurry ? hurry.wait(delay, signal) : sleep(clock, delay, signal));
    }
  }
}

/** A wait that `now()` ends early: lets news from elsewhere (a refused CONNECT) cut a retry backoff short. */
export class Hurry {
  #wake: (() => void) | undefined;

  constructor(private readonly clock: Clock) {}

  now(): void {
    this.#wake?.();
  }

  async wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const early = new AbortController();
    this.#wake = () => early.abort();
    const onAbort = () => early.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await sleep(this.clock, ms, early.signal).catch(() => {});
      if (signal?.aborted) throw abortedError(signal);
    } finally {
      this.#wake = undefined;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
