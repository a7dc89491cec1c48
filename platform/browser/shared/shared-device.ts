/**
 * One context's part of a shared device (`DeviceClient.start({ shared: true })`): any number of tabs, windows,
 * iframes and dedicated workers of an origin use one device. The database's Web Lock elects the owner, which runs the
 * ordinary client (database, worker, MQTT connection) and serves the others (owner.ts); the others relay their calls
 * over a BroadcastChannel and queue for the lock, so that when the owner goes the next in line takes over and every
 * call still waiting is posted to it again. A message's id is chosen where it was enqueued, so a call the dead owner
 * had stored but not answered is not stored twice.
 *
 * Why a BroadcastChannel and Web Locks rather than a SharedWorker hosting the owner: the README's multi-window
 * section says (bundlers, Chrome on Android, the database worker). Handlers are in context-handlers.ts. About 420
 * lines: joining, ownership and relaying calls share the pending calls and the owner's identity.
 */
import { DeviceClient as CoreDeviceClient } from '../../../src/client.js';
import type { DeviceClientEvents } from '../../../src/client-events.js';
import type { CloudMessageHandler, MethodHandler } from '../../../src/cloud-messages/cloud-messages.js';
import { abortedError, asSpotflowError, invalidArgument, SpotflowError } from '../../../src/errors.js';
import type { Logger } from '../../../src/logger.js';
import { type ResolvedOptions, resolveOptions, type StartOptions } from '../../../src/options.js';
import type { Clock, Platform } from '../../../src/ports.js';
import { callSafely } from '../../../src/util/callbacks.js';
import { untilAborted } from '../../../src/util/until-aborted.js';
import { randomUuid } from '../../../src/util/uuid.js';
import { type HeldLock, isHeld, requestLock, webLocks } from '../web-locks.js';
import { DeviceChannels } from './channels.js';
import { ContextHandlers } from './context-handlers.js';
import { ListenedEvents } from './listened-events.js';
import { type OwnContext, SharedOwner } from './owner.js';
import {
  type CallName,
  type Calls,
  type Envelope,
  eventFromWire,
  fromWireError,
  type Outcome,
  type Outgoing,
  outcomeOf,
  type Snapshot,
  sharedNames,
  toWireError,
} from './protocol.js';

export interface SharedStartOptions {
  core: StartOptions;
  /** The platform the owner's client runs on, given the database lock this context already holds. */
  platform: (held: HeldLock) => Platform;
  clock: Clock;
  /** Wait for a client started without `shared` to close the database, instead of failing with DATABASE_LOCKED. */
  waitForLock: boolean;
}

interface PendingCall {
  name: CallName;
  args: unknown[];
  posted: boolean;
  controller: AbortController | undefined;
  settle: (outcome: Outcome) => void;
}

/** How long a start waits before taking an owner lock held without the shared marker for a non-shared client's. */
const markerGraceMs = 250;
/** After a takeover fails (a database fault, say), how long this context lets the others try before it tries again. */
const retryOwnershipMs = 1000;

export class SharedDevice {
  readonly events: ListenedEvents<DeviceClientEvents>;
  readonly #id = randomUuid();
  readonly #names: ReturnType<typeof sharedNames>;
  readonly #locks = webLocks();
  readonly #channels: DeviceChannels;
  readonly #log: Logger;
  readonly #closed = new AbortController();
  readonly #pending = new Map<number, PendingCall>();
  readonly #handlers = new ContextHandlers(
    () => this.#announceHandlers(),
    (error) => this.events.emit('error', error),
  );
  #nextCall = 1;
  #snapshot: Snapshot | undefined;
  /** The other context that owns the device, once it said it is ready. */
  #ownerId: string | undefined;
  /** Set once this context owns the device (until it closes). */
  #owner: SharedOwner | undefined;
  #liveness: HeldLock | undefined;
  #closing: Promise<void> | undefined;
  #onReady: (() => void) | undefined;

  private constructor(
    private readonly options: SharedStartOptions,
    resolved: ResolvedOptions & { database: string },
  ) {
    this.#log = resolved.logger;
    this.events = new ListenedEvents<DeviceClientEvents>(
      (error, event) => this.#log.error('An event listener threw', { event: String(event), error }),
      () => this.#announceHandlers(),
    );
    this.#names = sharedNames(resolved.database);
    this.#channels = new DeviceChannels(this.#names.channel, this.#id, (envelope) => this.#receive(envelope));
  }

  /** Resolves once this context owns the device or has heard from the context that does. */
  static async start(options: SharedStartOptions): Promise<SharedDevice> {
    // Checked here as the client would, so that a bad option fails the start in every context, owner or not.
    const resolved = resolveOptions(options.core);
    // Typed out (StartOptions has no store); said here for plain JavaScript callers.
    const { database } = resolved;
    if (database === undefined) throw invalidArgument('A shared client needs a database of its own');
    const { signal } = resolved;
    if (signal?.aborted) throw abortedError(signal);
    const device = new SharedDevice(options, { ...resolved, database });
    try {
      await device.#join(signal);
      return device;
    } catch (error) {
      await device.close().catch(() => {});
      throw error;
    }
  }

  get snapshot(): Snapshot {
    const owner = this.#owner;
    if (owner !== undefined) return owner.snapshot();
    if (this.#snapshot === undefined)
      throw new SpotflowError('INTERNAL', 'The shared device has no state yet');
    return this.#snapshot;
  }

  /** Whether this context holds the database and the connection now. */
  get owns(): boolean {
    return this.#owner !== undefined;
  }

  /** Runs a call where the device is: here when this context owns it, else at the owner (again after a takeover). */
  call<N extends CallName>(name: N, args: Calls[N], signal?: AbortSignal): Promise<unknown> {
    this.assertOpen();
    const id = this.#nextCall++;
    let settle!: (outcome: Outcome) => void;
    const done = new Promise<unknown>((resolve, reject) => {
      settle = (outcome) => {
        this.#pending.delete(id);
        if (outcome.ok) resolve(outcome.value);
        else reject(fromWireError(outcome.error));
      };
    });
    this.#pending.set(id, { name, args, posted: false, controller: undefined, settle });
    this.#dispatch(id);
    const result = untilAborted(done, signal ? [signal, this.#closed.signal] : [this.#closed.signal], () =>
      this.#cancel(id),
    );
    if (name !== 'updateReported') return result;
    return result.then((snapshot) => {
      if (this.#owner === undefined) this.#adopt(snapshot as Snapshot);
    });
  }

  onCloudMessage(handler: CloudMessageHandler): () => void {
    this.assertOpen();
    return this.#handlers.onCloudMessage(handler);
  }

  onMethod(name: string, handler: MethodHandler): () => void {
    this.assertOpen();
    return this.#handlers.onMethod(name, handler);
  }

  /** Closes this context's client; the device goes on in the others (one of them takes over if this one owned it). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new SpotflowError('CLIENT_CLOSED', 'The client was closed while this call waited'));
      this.#handlers.close();
      for (const pending of [...this.#pending.values()]) {
        pending.controller?.abort();
        pending.settle({
          ok: false,
          error: { code: 'CLIENT_CLOSED', name: 'SpotflowError', message: 'The client is closed' },
        });
      }
      if (this.#owner === undefined) this.#post({ t: 'bye' });
      await this.#owner?.close();
      this.#channels.close();
      await this.#liveness?.release();
    })();
    return this.#closing;
  }

  assertOpen(): void {
    if (this.#closing) throw new SpotflowError('CLIENT_CLOSED', 'The client is closed');
  }

  async #join(signal: AbortSignal | undefined): Promise<void> {
    // Held for this context's whole life: the owner learns from it that this context has gone.
    this.#liveness = (await requestLock(this.#locks, this.#names.context(this.#id), {})) ?? undefined;
    const joined = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      void this.#queueForOwnership(signal).catch(reject);
      if (!this.options.waitForLock) void this.#refuseNonSharedOwner().catch(reject);
    });
    this.#post({ t: 'hello' });
    await untilAborted(joined, signal ? [signal] : [], () => {});
  }

  /** Queues for the database's lock; when it is granted, this context owns the device. */
  async #queueForOwnership(startSignal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const held = await requestLock(this.#locks, this.#names.owner, { signal: this.#closed.signal }).catch(
        (error: unknown) => {
          if (this.#closed.signal.aborted) return null;
          throw error;
        },
      );
      if (held === null) return;
      try {
        await this.#own(held, this.#onReady === undefined ? undefined : startSignal);
        return;
      } catch (error) {
        // Before the start resolved, its caller hears why; afterwards the others get their turn, then this one.
        if (this.#onReady !== undefined) throw error;
        const failure = asSpotflowError(error, 'Taking over the shared device failed');
        this.events.emit('error', failure);
        // This context's waiting calls hear it too, rather than wait for an owner that may not come.
        for (const pending of [...this.#pending.values()])
          pending.settle({ ok: false, error: toWireError(failure) });
        await this.#sleep(retryOwnershipMs);
        if (this.#closing) return;
      }
    }
  }

  async #own(held: HeldLock, signal: AbortSignal | undefined): Promise<void> {
    let marker: HeldLock | null = null;
    // The client releases both when it closes, or when its start fails (releasing twice does nothing).
    const release = async () => {
      await marker?.release();
      await held.release();
    };
    const { signal: _startSignal, ...core } = this.options.core;
    let client: CoreDeviceClient;
    try {
      marker = await requestLock(this.#locks, this.#names.sharedMarker, { ifAvailable: true });
      client = await CoreDeviceClient.startOn(
        this.options.platform({ release }),
        signal === undefined ? core : { ...core, signal },
      );
    } catch (error) {
      await release();
      throw error;
    }
    if (this.#closing) {
      await client.close();
      return;
    }
    const own: OwnContext = {
      id: this.#id,
      emit: (name, payload) => this.#emitLocal(name, payload),
      handle: (delivery) => this.#handlers.handle(delivery),
    };
    this.#channels.listenAsOwner();
    this.#owner = new SharedOwner(client, this.#channels, own, this.#locks, this.#names, this.#log);
    this.#ownerId = undefined;
    this.#owner.start();
    this.#announceHandlers();
    this.#ready();
    // Calls still waiting for the old owner are run here; it may have stored some of them already.
    for (const id of [...this.#pending.keys()]) this.#dispatch(id);
  }

  /** An owner lock held without the shared marker, twice in a row: a client started without `shared` owns it. */
  async #refuseNonSharedOwner(): Promise<void> {
    for (let look = 0; look < 2; look++) {
      if (look > 0) await this.#sleep(markerGraceMs);
      if (this.#onReady === undefined || this.#closing) return;
      const [owner, marker] = await Promise.all([
        isHeld(this.#locks, this.#names.owner),
        isHeld(this.#locks, this.#names.sharedMarker),
      ]);
      if (!owner || marker || this.#owner !== undefined) return;
    }
    if (this.#onReady === undefined) return;
    throw new SpotflowError(
      'DATABASE_LOCKED',
      `A client started without shared owns the database ${this.options.core.database}`,
    );
  }

  #ready(): void {
    const onReady = this.#onReady;
    this.#onReady = undefined;
    onReady?.();
  }

  #receive(envelope: Envelope): void {
    if (this.#closing || envelope.from === this.#id) return;
    if (this.#owner !== undefined) {
      this.#owner.receive(envelope);
      return;
    }
    switch (envelope.t) {
      case 'ready': {
        const newOwner = this.#ownerId !== envelope.from;
        const wasConnected = this.#snapshot?.connected === true;
        if (newOwner) this.#snapshot = envelope.snapshot;
        else this.#adopt(envelope.snapshot);
        this.#ownerId = envelope.from;
        this.#ready();
        if (!newOwner) return;
        // The old owner died without a word: its connection went with it.
        if (wasConnected && !envelope.snapshot.connected)
          this.#emitLocal('disconnected', { error: undefined });
        this.#announceHandlers();
        for (const id of [...this.#pending.keys()]) this.#dispatch(id);
        return;
      }
      case 'closing':
        if (this.#ownerId !== envelope.from) return;
        this.#ownerId = undefined;
        // Its connection closes with it; the next owner's 'connected' follows.
        if (this.#snapshot?.connected) this.#onOwnerEvent('disconnected', { error: undefined });
        return;
      case 'state':
        if (this.#ownerId === envelope.from) this.#adopt(envelope.snapshot);
        return;
      case 'event':
        if (this.#ownerId === envelope.from)
          this.#onOwnerEvent(envelope.name, eventFromWire(envelope.name, envelope.payload));
        return;
      case 'reply':
        if (envelope.to === this.#id) this.#pending.get(envelope.id)?.settle(envelope.outcome);
        return;
      case 'deliver':
        if (envelope.to !== this.#id) return;
        void this.#handlers
          .handle(envelope.delivery)
          .then((outcome) => this.#post({ t: 'delivered', to: envelope.from, id: envelope.id, outcome }));
        return;
      default:
        return; // calls and registrations are for the owner
    }
  }

  /** The owner's newer state (a snapshot from a new owner has been taken already, in 'ready'). */
  #adopt(snapshot: Snapshot): void {
    if (this.#snapshot === undefined || snapshot.seq > this.#snapshot.seq) this.#snapshot = snapshot;
  }

  #onOwnerEvent(name: string, payload: unknown): void {
    const snapshot = this.#snapshot;
    if (snapshot !== undefined) {
      if (name === 'connected') snapshot.connected = true;
      if (name === 'disconnected') snapshot.connected = false;
      if (name === 'desiredProperties') snapshot.desired = payload as Snapshot['desired'];
    }
    this.#emitLocal(name, payload);
    if (name === 'desiredProperties') {
      callSafely(
        () => this.options.core.onDesiredProperties?.(payload as Snapshot['desired']),
        (error) => this.#log.error('onDesiredProperties failed', { error }),
      );
    }
  }

  #emitLocal(name: string, payload: unknown): boolean {
    return this.events.emit(name as keyof DeviceClientEvents, payload as never);
  }

  /** Runs the call here (this context owns the device) or posts it to the owner (if there is one yet). */
  #dispatch(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    const retry = pending.posted;
    const owner = this.#owner;
    if (owner !== undefined) {
      pending.posted = true;
      const controller = new AbortController();
      pending.controller = controller;
      void outcomeOf(() => owner.run(pending.name, pending.args as never, retry, controller.signal)).then(
        (outcome) => {
          // A call that failed because this owner is closing was the user's own close: it rejects with CLIENT_CLOSED.
          if (this.#pending.get(id) === pending) pending.settle(outcome);
        },
      );
      return;
    }
    if (this.#ownerId === undefined) return; // posted when an owner says it is ready
    // The oldest call still waiting (a Map keeps insertion order, and ids only grow).
    const floor = this.#pending.keys().next().value ?? id;
    try {
      this.#post({ t: 'call', id, name: pending.name, args: pending.args, retry, floor });
      pending.posted = true;
    } catch (error) {
      // Arguments are checked before they get here; a value the channel cannot clone is still the caller's.
      pending.settle({
        ok: false,
        error: toWireError(invalidArgument('An argument cannot be sent to the owner', { cause: error })),
      });
    }
  }

  #cancel(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    pending.controller?.abort();
    if (pending.posted && this.#owner === undefined) this.#post({ t: 'cancel', id });
  }

  #announceHandlers(): void {
    const { cloud, methods } = this.#handlers.registration;
    if (this.#owner !== undefined) this.#owner.setHandlers(this.#id, cloud, methods);
    else if (this.#ownerId !== undefined) {
      this.#post({ t: 'handlers', cloud, methods, events: this.events.listened as string[] });
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.options.clock.setTimeout(resolve, ms);
    });
  }

  #post(message: Outgoing): void {
    if (!this.#closing || message.t === 'bye') this.#channels.post(message);
  }
}
