import { abortedError, isSpotflowError, SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProvisioningOperation } from '../options.js';
import type { Clock } from '../ports.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import type { IssuedRegistrationToken, ProvisioningApi } from './api.js';

export interface ProvisioningFlowOptions {
  provisioningToken: string;
  deviceId: string | undefined;
  pollIntervalMs: number;
  onProvisioningOperation: (operation: ProvisioningOperation) => void | Promise<void>;
}

/** Errors worth retrying: the network or the platform having a bad moment. */
export function isTransient(error: unknown): boolean {
  return isSpotflowError(error, 'NETWORK');
}

/**
 * SPEC §2 steps 2: start an operation, show its verification code, poll `complete` until a technician approves.
 * Network failures are retried with backoff (a device may boot before its network); fatal outcomes reject with
 * their own codes: PROVISIONING_REJECTED, PROVISIONING_CANCELLED, PROVISIONING_EXPIRED, WORKSPACE_DISABLED.
 */
export async function runProvisioning(
  api: ProvisioningApi,
  options: ProvisioningFlowOptions,
  clock: Clock,
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<IssuedRegistrationToken> {
  const operation = await retrying(
    () => api.init(options.provisioningToken, options.deviceId, signal),
    log,
    signal,
  );
  log.info('Provisioning operation started; waiting for approval', { operationId: operation.id });
  try {
    await options.onProvisioningOperation({
      id: operation.id,
      verificationCode: operation.verificationCode,
      expirationTime: new Date(operation.expiresAt),
    });
  } catch (error) {
    log.error('onProvisioningOperation threw; provisioning goes on', { error });
  }
  for (;;) {
    if (signal?.aborted) throw abortedError(signal);
    const result = await retrying(
      () => api.complete(options.provisioningToken, operation.id, signal),
      log,
      signal,
    );
    if (!result.pending) return result;
    if (clock.now() > operation.expiresAt) {
      throw new SpotflowError(
        'PROVISIONING_EXPIRED',
        'The provisioning operation expired before it was approved',
      );
    }
    await sleep(options.pollIntervalMs, signal);
  }
}

/**
 * Runs `call`, retrying transient failures with jittered backoff until it succeeds, fails for good, or aborts.
 * `hurry`, when given, cuts the current wait short (the hub just refused our credentials: the network is back).
 */
export async function retrying<T>(
  call: () => Promise<T>,
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
      const delay = backoffDelay(attempt, { initialMs: 1000, maxMs: 60_000 });
      log.warn('Platform not reachable; retrying', { error, retryInMs: Math.round(delay) });
      await (hurry ? hurry.wait(delay, signal) : sleep(delay, signal));
    }
  }
}

/** A wait that `now()` ends early: lets news from elsewhere (a refused CONNECT) cut a retry backoff short. */
export class Hurry {
  #wake: (() => void) | undefined;

  now(): void {
    this.#wake?.();
  }

  async wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const early = new AbortController();
    this.#wake = () => early.abort();
    const onAbort = () => early.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await sleep(ms, early.signal).catch(() => {});
      if (signal?.aborted) throw abortedError(signal);
    } finally {
      this.#wake = undefined;
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
