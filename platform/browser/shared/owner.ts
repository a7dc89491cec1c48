/**
 * The owner's side of a shared device: the one context that holds the database and the connection serves the calls
 * the other contexts relay, tells them every event and the state they show, and hands each cloud-to-device message
 * and direct method to one context that registered a handler for it. It learns that a context has gone (closed,
 * crashed, killed) from that context's Web Lock, and then gives its work to another.
 */
import type { DeviceClient } from '../../../src/client.js';
import { eventNames } from '../../../src/client-events.js';
import { clientInternals } from '../../../src/client-internals.js';
import {
  type CloudMessage,
  CloudMessageNotTaken,
  type MethodResponse,
} from '../../../src/cloud-messages/cloud-messages.js';
import { SpotflowError } from '../../../src/errors.js';
import type { Logger } from '../../../src/logger.js';
import { type webLocks, whenReleased } from '../web-locks.js';
import type { DeviceChannels } from './channels.js';
import {
  type CallName,
  type Calls,
  type Delivery,
  type Envelope,
  eventToWire,
  fromWireError,
  handlerGone,
  isCheckedMessage,
  type Outcome,
  type Outgoing,
  outcomeOf,
  type Snapshot,
  type sharedNames,
  stateEvents,
} from './protocol.js';

/** What the owner needs of its own context: where its events go and how its own handlers are run. */
export interface OwnContext {
  id: string;
  /** Emits to this context's listeners; false when none heard it. */
  emit(name: string, payload: unknown): boolean;
  /** Runs this context's handlers for a delivery. */
  handle(delivery: Delivery): Promise<Outcome>;
}

interface Registration {
  cloud: boolean;
  methods: ReadonlySet<string>;
}

/** A relayed call being served: aborted when its caller cancels it or goes away. `done` once replied. */
type Served = AbortController | 'done';

export class SharedOwner {
  readonly #registrations = new Map<string, Registration>();
  readonly #served = new Map<string, Map<number, Served>>();
  readonly #watched = new Set<string>();
  /** The events each other context listens to. */
  readonly #listened = new Map<string, ReadonlySet<string>>();
  readonly #deliveries = new Map<number, { to: string; settle: (outcome: Outcome | 'gone') => void }>();
  readonly #stopped = new AbortController();
  #nextDelivery = 1;
  #cloudRegistered = false;
  readonly #methodOffs = new Map<string, () => void>();
  #closing = false;
  #snapshots = 0;
  readonly #offs: (() => void)[] = [];

  constructor(
    private readonly client: DeviceClient,
    private readonly channels: Pick<DeviceChannels, 'post' | 'forget'>,
    private readonly own: OwnContext,
    private readonly locks: ReturnType<typeof webLocks>,
    private readonly names: ReturnType<typeof sharedNames>,
    private readonly log: Logger,
  ) {}

  /** Starts relaying events and tells every context that this one owns the device now. */
  start(): void {
    for (const name of eventNames) {
      this.#offs.push(
        this.client.on(name, (payload) => {
          if (name === 'connected' || name === 'disconnected' || name === 'desiredProperties')
            this.announceState();
          if (name === 'reportedPropertiesSent') this.announceState();
          const heard = this.own.emit(name, payload);
          if (stateEvents.has(name) || this.#listenedElsewhere(name)) {
            this.#post({ t: 'event', name, payload: eventToWire(name, payload) });
          }
          // The other contexts' listeners are unknown here: a background failure is also logged, as the core does
          // when nobody listens.
          if (name === 'error' && !heard) {
            const error = payload as SpotflowError;
            this.log.warn(`${error.code}: ${error.message} (the SDK retries by itself)`, { error });
          }
        }),
      );
    }
    this.#post({ t: 'ready', snapshot: this.snapshot() });
  }

  snapshot(): Snapshot {
    const { client } = this;
    return {
      seq: this.#snapshots++,
      workspaceId: client.workspaceId,
      deviceId: client.deviceId,
      connected: client.connected,
      desired: client.desiredProperties(),
      reported: client.reportedProperties(),
    };
  }

  announceState(): void {
    if (!this.#closing) this.#post({ t: 'state', snapshot: this.snapshot() });
  }

  /** A message from another context. */
  receive(envelope: Envelope): void {
    if (this.#closing || envelope.from === this.own.id) return;
    switch (envelope.t) {
      case 'hello':
        this.#watch(envelope.from);
        this.#post({ t: 'ready', snapshot: this.snapshot() });
        return;
      case 'call':
        this.#serve(envelope.from, envelope.id, envelope.name, envelope.args, envelope.retry, envelope.floor);
        return;
      case 'cancel': {
        const served = this.#served.get(envelope.from)?.get(envelope.id);
        if (served instanceof AbortController)
          served.abort(new SpotflowError('ABORTED', 'Cancelled by the caller'));
        return;
      }
      case 'handlers':
        this.#watch(envelope.from);
        this.setHandlers(envelope.from, envelope.cloud, envelope.methods);
        this.#listened.set(envelope.from, new Set(envelope.events));
        return;
      case 'bye':
        this.#forget(envelope.from);
        return;
      case 'delivered': {
        const delivery = this.#deliveries.get(envelope.id);
        if (delivery?.to === envelope.from && envelope.to === this.own.id) delivery.settle(envelope.outcome);
        return;
      }
    }
  }

  /** Serves a call: the owner's own context's calls come here directly, the others' through {@link receive}. */
  run<N extends CallName>(name: N, args: Calls[N], retry: boolean, signal: AbortSignal): Promise<unknown> {
    const { client } = this;
    switch (name) {
      case 'enqueue':
      case 'send': {
        const [message, mid] = args as Calls['enqueue'];
        if (!isCheckedMessage(message) || typeof mid !== 'string') {
          return Promise.reject(new SpotflowError('PROTOCOL', 'A relayed message is malformed'));
        }
        return name === 'enqueue'
          ? clientInternals.enqueue(client, message, { mid, retry })
          : clientInternals.send(client, message, { mid, retry }, signal);
      }
      case 'pendingCount':
        return client.pendingMessagesCount();
      case 'waitSent':
        return client.waitEnqueuedMessagesSent({ signal });
      case 'updateReported':
        return client
          .updateReportedProperties((args as Calls['updateReported'])[0])
          .then(() => this.announceState());
      case 'waitReportedSent':
        return client.waitReportedPropertiesSent({ signal });
    }
    return Promise.reject(new SpotflowError('PROTOCOL', `Unknown relayed call ${String(name)}`));
  }

  /** Which handlers a context has registered (the owner's own included). */
  setHandlers(context: string, cloud: boolean, methods: readonly string[]): void {
    if (cloud || methods.length > 0) this.#registrations.set(context, { cloud, methods: new Set(methods) });
    else this.#registrations.delete(context);
    this.#syncCoreHandlers();
  }

  /**
   * Stops serving: calls that fail from now on get no reply (their contexts ask the next owner), deliveries in flight
   * are taken back, and the client is closed.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#post({ t: 'closing' });
    this.#stopped.abort();
    for (const delivery of [...this.#deliveries.values()]) delivery.settle('gone');
    for (const off of this.#offs) off();
    await this.client.close();
  }

  #serve(from: string, id: number, name: CallName, args: unknown[], retry: boolean, floor: number): void {
    this.#watch(from);
    const served = this.#served.get(from) ?? new Map<number, Served>();
    this.#served.set(from, served);
    // A call is posted again when its context sees a new owner: one this owner has (or had) is not run twice.
    if (served.has(id)) return;
    for (const seen of served.keys()) if (seen < floor) served.delete(seen);
    const controller = new AbortController();
    served.set(id, controller);
    void outcomeOf(() => this.run(name, args as Calls[typeof name], retry, controller.signal)).then(
      (outcome) => {
        if (served.get(id) === controller) served.set(id, 'done');
        // A failure caused by this owner closing is not the caller's: its context asks the next owner.
        if (this.#closing && !outcome.ok) return;
        this.#post({ t: 'reply', to: from, id, outcome });
      },
    );
  }

  #listenedElsewhere(event: string): boolean {
    for (const events of this.#listened.values()) if (events.has(event)) return true;
    return false;
  }

  /** Watches a context's Web Lock: when it is granted, the context has gone. */
  #watch(context: string): void {
    if (this.#watched.has(context)) return;
    this.#watched.add(context);
    whenReleased(this.locks, this.names.context(context), this.#stopped.signal).then(
      () => this.#forget(context),
      () => {}, // the owner closed first
    );
  }

  #forget(context: string): void {
    this.#watched.delete(context);
    this.#listened.delete(context);
    this.channels.forget(context);
    for (const served of this.#served.get(context)?.values() ?? []) {
      if (served instanceof AbortController)
        served.abort(new SpotflowError('CLIENT_CLOSED', 'The caller went away'));
    }
    this.#served.delete(context);
    for (const delivery of [...this.#deliveries.values()])
      if (delivery.to === context) delivery.settle('gone');
    if (this.#registrations.delete(context)) this.#syncCoreHandlers();
  }

  /** The client's own handlers follow the registrations: one dispatcher per registered method and for C2D. */
  #syncCoreHandlers(): void {
    if (this.#closing) return;
    const registrations = [...this.#registrations.values()];
    const cloud = registrations.some((registration) => registration.cloud);
    if (cloud && !this.#cloudRegistered) this.client.onCloudMessage(this.#dispatchCloud);
    this.#cloudRegistered = cloud;
    const methods = new Set(registrations.flatMap((registration) => [...registration.methods]));
    for (const name of methods) {
      if (!this.#methodOffs.has(name))
        this.#methodOffs.set(name, this.client.onMethod(name, this.#dispatchMethod));
    }
    for (const [name, off] of this.#methodOffs) {
      if (methods.has(name)) continue;
      off();
      this.#methodOffs.delete(name);
    }
  }

  /** Contexts registered for a delivery, the owner's own first (no message crosses the channel then). */
  #targets(wants: (registration: Registration) => boolean): string[] {
    const targets = [...this.#registrations]
      .filter(([, registration]) => wants(registration))
      .map(([id]) => id);
    return targets.sort((a, b) => Number(b === this.own.id) - Number(a === this.own.id));
  }

  /** The core's one C2D handler: hands the message to one context; keeps it stored if that context goes away. */
  readonly #dispatchCloud = async (message: CloudMessage): Promise<void> => {
    const [target] = this.#targets((registration) => registration.cloud);
    if (target === undefined || !this.#cloudRegistered) throw new CloudMessageNotTaken();
    const { payload, properties, messageId } = message;
    const outcome = await this.#deliver(target, {
      kind: 'cloud',
      message: { payload, properties, messageId },
    });
    if (outcome === 'gone' || !outcome.ok) {
      // Handed over again once the inbox has stopped on this one: registering drains it.
      queueMicrotask(() => {
        if (this.#cloudRegistered && !this.#closing) this.client.onCloudMessage(this.#dispatchCloud);
      });
      throw new CloudMessageNotTaken();
    }
  };

  /** The core's handler of every registered method: asks the contexts that registered it, one after another. */
  readonly #dispatchMethod = async (
    payload: unknown,
    request: { name: string },
  ): Promise<MethodResponse | undefined> => {
    for (const target of this.#targets((registration) => registration.methods.has(request.name))) {
      const outcome = await this.#deliver(target, { kind: 'method', name: request.name, payload });
      if (outcome === 'gone') continue;
      if (!outcome.ok) throw fromWireError(outcome.error);
      return outcome.value as MethodResponse | undefined;
    }
    throw new Error(`No context that registered method ${request.name} is left`);
  };

  async #deliver(to: string, delivery: Delivery): Promise<Outcome | 'gone'> {
    const outcome = await this.#deliverTo(to, delivery);
    return outcome !== 'gone' && !outcome.ok && outcome.error.name === handlerGone ? 'gone' : outcome;
  }

  #deliverTo(to: string, delivery: Delivery): Promise<Outcome | 'gone'> {
    if (to === this.own.id) return this.own.handle(delivery);
    if (this.#closing) return Promise.resolve('gone');
    const id = this.#nextDelivery++;
    return new Promise((resolve) => {
      this.#deliveries.set(id, {
        to,
        settle: (outcome) => {
          this.#deliveries.delete(id);
          resolve(outcome);
        },
      });
      this.#post({ t: 'deliver', to, id, delivery });
    });
  }

  #post(message: Outgoing): void {
    this.channels.post(message);
  }
}
