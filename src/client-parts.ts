import type { DeviceClientEvents } from './client-events.js';
import { abortedError } from './errors.js';
import { type ResolvedOptions, resolveOptions, type StartOptions } from './options.js';
import { OutboxStore } from './outbox/store.js';
import type { Database, LockHandle, Platform } from './ports.js';
import { ProvisioningApi } from './provisioning/api.js';
import { TokenHandler } from './provisioning/token-handler.js';
import { migrate } from './store/schema.js';
import { StateStore } from './store/state.js';
import { TwinManager } from './twin/twin.js';
import { callSafely } from './util/callbacks.js';
import { TypedEvents } from './util/events.js';

/** @internal What a started client is made of. */
export interface Parts {
  options: ResolvedOptions;
  platform: Platform;
  lock: LockHandle;
  db: Database;
  tokens: TokenHandler;
  outbox: OutboxStore;
  twin: TwinManager;
  events: TypedEvents<DeviceClientEvents>;
}

/**
 * Start-up up to the point where a client can exist: options checked, database locked, opened and migrated, the
 * device's registration reused or obtained (provisioning waits for approval here), outbox and twin loaded.
 * On failure everything taken so far is released.
 */
export async function openParts(platform: Platform, options: StartOptions): Promise<Parts> {
  const resolved = resolveOptions(options);
  if (resolved.signal?.aborted) throw abortedError(resolved.signal);
  const lock = await platform.lock.acquire(resolved.database, resolved.signal);
  let db: Database | undefined;
  try {
    db = await platform.database.open(resolved.database);
    await migrate(db);
    const events = new TypedEvents<DeviceClientEvents>((error, event) =>
      resolved.logger.error('An event listener threw', { event: String(event), error }),
    );
    const tokens = new TokenHandler(
      new ProvisioningApi(resolved.instance, platform.fetch, platform.clock, { secrets: resolved.secrets }),
      new StateStore(db),
      {
        instance: resolved.instance,
        provisioningToken: resolved.provisioningToken,
        deviceId: resolved.deviceId,
        pollIntervalMs: resolved.provisioningPollIntervalMs,
        onProvisioningOperation: resolved.onProvisioningOperation,
        secrets: resolved.secrets,
      },
      platform.clock,
      resolved.logger,
      {
        provisioningRequired: (reason) => events.emit('provisioningRequired', { reason }),
        error: (error) => events.emit('error', error),
      },
    );
    await tokens.establish(resolved.signal);
    const outbox = await OutboxStore.open(db, platform.clock, resolved.outboxLimits);
    const twin = await TwinManager.open(
      db,
      platform.clock,
      {
        desiredProperties: (desired) => {
          events.emit('desiredProperties', desired);
          callSafely(
            () => resolved.onDesiredProperties?.(desired),
            (error) => resolved.logger.error('onDesiredProperties failed', { error }),
          );
        },
        reportedPropertiesSent: (reported) => events.emit('reportedPropertiesSent', reported),
        error: (error) => events.emit('error', error),
      },
      resolved.logger,
    );
    return { options: resolved, platform, lock, db, tokens, outbox, twin, events };
  } catch (error) {
    await db?.close().catch(() => {});
    await lock.release().catch(() => {});
    throw error;
  }
}
