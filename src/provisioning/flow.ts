import { abortedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProvisioningOperation } from '../options.js';
import type { Clock } from '../ports.js';
import { sleep } from '../util/backoff.js';
import { callSafely } from '../util/callbacks.js';
import { retrying } from '../util/retry.js';
import type { IssuedRegistrationToken, ProvisioningApi } from './api.js';

export interface ProvisioningFlowOptions {
  provisioningToken: string;
  deviceId: string | undefined;
  pollIntervalMs: number;
  onProvisioningOperation: (operation: ProvisioningOperation) => void | Promise<void>;
}

/**
 * SPEC §2 steps 2: start an operation, show its verification code, poll `complete` until a technician approves.
 * Network failures are retried with backoff (a device may boot before its network); fatal outcomes reject with
 * their own codes: PROVISIONING_REJECTED, PROVISIONING_CANCELLED, PROVISIONING_EXPIRED, WORKSPACE_DISABLED.
 * The operation has expired when the platform says so (410), never by the device's clock, which may be years off.
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
    clock,
    log,
    signal,
  );
  log.info('Provisioning operation started; waiting for approval', { operationId: operation.id });
  // Polling starts while the callback shows the code: a callback that waits (a dialog) must not hold up the
  // approval, and its failure must not stop provisioning.
  callSafely(
    () =>
      options.onProvisioningOperation({
        id: operation.id,
        verificationCode: operation.verificationCode,
        expirationTime: new Date(operation.expiresAt),
      }),
    (error) => log.error('onProvisioningOperation failed; provisioning goes on', { error }),
  );
  for (;;) {
    if (signal?.aborted) throw abortedError(signal);
    const result = await retrying(
      () => api.complete(options.provisioningToken, operation.id, signal),
      clock,
      log,
      signal,
    );
    if (!result.pending) return result;
    await sleep(clock, options.pollIntervalMs, signal);
  }
}
