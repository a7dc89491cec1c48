/**
 * The one place a client is put together: options checked, database locked, opened and migrated, the device's
 * registration reused or obtained (provisioning waits for approval here), outbox and twin loaded, and the
 * background parts (token handler, hub session, sender, cloud messages) built and wired to one another.
 * Nothing runs until {@link startAssembly}; on a failure everything taken so far is released. Taking it apart again
 * ({@link disassemble}) is here too, in the reverse order.
 */
import type { DeviceClientEvents } from './client-events.js';
import { ConnectionLink } from './client-link.js';
import { SendWaiters } from './client-waiters.js';
import { CloudMessages } from './cloud-messages/cloud-messages.js';
import { abortedError, type SpotflowError } from './errors.js';
import { HubSession } from './iothub/session.js';
import {
  type ResolvedOptions,
  resolveOptions,
  type StartOptions,
  type StoreStartOptions,
} from './options.js';
import { outboxCommit } from './outbox/outbox-commit.js';
import { OutboxSender } from './outbox/sender.js';
import { OutboxStore } from './outbox/store.js';
import { FileUploader } from './outbox/upload.js';
import type { Database, LockHandle, Platform, TimerHandle } from './ports.js';
import { ProvisioningApi } from './provisioning/api.js';
import { TokenHandler } from './provisioning/token-handler.js';
import type { DeviceStorage } from './store/device-store.js';
import { migrate } from './store/schema.js';
import { StateStore } from './store/state.js';
import { TwinManager } from './twin/twin.js';
import { callSafely } from './util/callbacks.js';
import { TypedEvents } from './util/events.js';

/** Everything a client is made of. */
export interface Assembly {
  options: ResolvedOptions;
  platform: Platform;
  lock: LockHandle;
  db: Database;
  events: TypedEvents<DeviceClientEvents>;
  tokens: TokenHandler;
  outbox: OutboxStore;
  twin: TwinManager;
  cloud: CloudMessages;
  sender: OutboxSender;
  session: HubSession;
  link: ConnectionLink;
  waiters: SendWaiters;
}

export async function assemble(
  platform: Platform,
  options: StartOptions | StoreStartOptions,
): Promise<Assembly> {
  const resolved = resolveOptions(options);
  if (resolved.signal?.aborted) throw abortedError(resolved.signal);
  const storage =
    resolved.store === undefined
      ? await ownStorage(platform, resolved.database!, resolved.signal)
      : resolved.store.attach(resolved.deviceId!);
  try {
    return await build(platform, resolved, storage);
  } catch (error) {
    await releaseStorage(storage);
    throw error;
  }
}

/** A database of the client's own, locked, opened and migrated; its rows are the device ''. */
async function ownStorage(
  platform: Platform,
  database: string,
  signal?: AbortSignal,
): Promise<DeviceStorage> {
  const lock = await platform.lock.acquire(database, signal);
  let db: Database | undefined;
  try {
    db = await platform.database.open(database);
    await migrate(db);
    return { lock, db, device: '', commit: outboxCommit(db, platform.clock) };
  } catch (error) {
    await releaseStorage({ db, lock });
    throw error;
  }
}

/** How long closing lets a running cloud-to-device handler finish before it releases the database. */
const cloudStopGraceMs = 5000;

/** Releases the database and its lock after a failed start (errors ignored: the start's error is the news). */
export async function releaseStorage(parts: { db: Database | undefined; lock: LockHandle }): Promise<void> {
  await parts.db?.close().catch(() => {});
  await parts.lock.release().catch(() => {});
}

/**
 * Stops the background work, lets in-flight writes finish, and releases the database, the lock and the platform:
 * credentials first (no renewal starts), then the hub session, the sender's run, pending deletes and twin writes.
 */
export async function disassemble(parts: Assembly): Promise<void> {
  await parts.tokens.stop();
  await parts.session.stop();
  await parts.link.stop();
  await parts.sender.flushDeletes();
  await parts.twin.idle();
  // A C2D handler still running gets a moment to finish; its message stays stored if it does not.
  const { clock } = parts.platform;
  let timer: TimerHandle | undefined;
  await Promise.race([
    parts.cloud.stop(),
    new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, cloudStopGraceMs);
    }),
  ]);
  if (timer !== undefined) clock.clearTimeout(timer);
  await parts.db.close();
  await parts.lock.release();
  await parts.platform.close?.();
}

/** Starts the background work: credentials are kept fresh and the hub connected. */
export function startAssembly(parts: Assembly): void {
  parts.tokens.start();
  parts.session.start();
}

async function build(
  platform: Platform,
  options: ResolvedOptions,
  storage: DeviceStorage,
): Promise<Assembly> {
  const { lock, db, device } = storage;
  const log = options.logger;
  const clock = platform.clock;
  const events = new TypedEvents<DeviceClientEvents>((error, event) =>
    log.error('An event listener threw', { event: String(event), error }),
  );
  // A background failure nobody listens to must still be seen: without it a device sends nothing, silently.
  const reportError = (error: SpotflowError) => {
    if (events.emit('error', error)) return;
    // Stored data lost is not retried away: said as an error (it is also what a start that reports it logs, as no
    // listener can be added before `start` resolves).
    if (error.code === 'DATABASE_CORRUPT') log.error(`${error.code}: ${error.message}`, { error });
    else
      log.warn(`${error.code}: ${error.message} (no 'error' listener; the SDK retries by itself)`, { error });
  };
  db.onProblem?.(reportError);
  const tokens = new TokenHandler(
    new ProvisioningApi(options.instance, platform.fetch, clock, { secrets: options.secrets }),
    new StateStore(db, device),
    {
      instance: options.instance,
      provisioningToken: options.provisioningToken,
      deviceId: options.deviceId,
      pollIntervalMs: options.provisioningPollIntervalMs,
      onProvisioningOperation: options.onProvisioningOperation,
      secrets: options.secrets,
    },
    clock,
    log,
    { provisioningRequired: (reason) => events.emit('provisioningRequired', { reason }), error: reportError },
  );
  await tokens.establish(options.signal);
  const outbox = await OutboxStore.open(db, clock, options.outboxLimits, storage);
  const twin = await TwinManager.open(
    db,
    device,
    clock,
    {
      desiredProperties: (desired) => {
        events.emit('desiredProperties', desired);
        callSafely(
          () => options.onDesiredProperties?.(desired),
          (error) => log.error('onDesiredProperties failed', { error }),
        );
      },
      reportedPropertiesSent: (reported) => events.emit('reportedPropertiesSent', reported),
      error: reportError,
    },
    log,
  );
  const cloud = new CloudMessages(db, device, log, reportError);
  const waiters: SendWaiters = new SendWaiters(outbox, () => sender.flushDeletes());
  const sender = new OutboxSender(
    outbox,
    platform.compressor,
    new FileUploader(options.instance, platform.fetch, clock, { secrets: options.secrets }),
    options.maxInFlight,
    clock,
    {
      sent: ({ mid }) => {
        events.emit('messageSent', { id: mid });
        waiters.sent(mid);
      },
      removed: () => waiters.removed(),
      removalAwaited: () => waiters.removalAwaited,
      uploadProgress: (progress) => events.emit('uploadProgress', progress),
      error: reportError,
    },
    log,
  );
  const link = new ConnectionLink(events, twin, sender, reportError);
  const session = new HubSession(
    platform,
    {
      instance: options.instance,
      transport: options.transport ?? platform.defaultTransport,
      keepAliveSeconds: options.keepAliveSeconds,
      reconnectInitialDelayMs: options.reconnectInitialDelayMs,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs,
      allowInsecure: options.allowInsecure,
    },
    tokens,
    {
      connecting: (attempt, host) => events.emit('connecting', { attempt, host }),
      connected: (connection, credentials) => link.onConnected(connection, credentials),
      disconnected: (error) => link.onDisconnected(error),
      error: reportError,
    },
    log,
  );
  session.handle('$iothub/twin/', (message) => twin.handle(message));
  session.handle('$iothub/methods/POST/', (message) => cloud.handleMethod(message, session.connection));
  session.handle('devices/', (message) => cloud.handleCloudMessage(message));
  for (const topic of [...TwinManager.topics, '$iothub/methods/POST/#']) void session.subscribe(topic);
  return { options, platform, lock, db, events, tokens, outbox, twin, cloud, sender, session, link, waiters };
}
