/**
 * Notices a dead link sooner than the keep-alive can, while the device waits for the broker. With publishes (or a
 * subscribe) awaiting their acknowledgement, silence means something: a live broker answers them. So when no packet
 * at all has arrived for {@link deadLinkMs} since the device began waiting (or since the last packet, whichever is
 * later), the link is taken as dead and the connection is dropped, and the session reconnects. An idle connection
 * is left to the keep-alive: nothing here adds traffic.
 *
 * A large publish on a slow uplink takes a while to go out before the broker can acknowledge it, so when the
 * oldest outstanding one would take long to send at {@link slowestUplinkBytesPerSecond}, the silence allowed is
 * that transmit time plus half of {@link deadLinkMs} (a 256 KB message: 39.5 s; anything up to 60 KB: 15 s), and a
 * device on a 64 kbit/s link is not told its link is dead while it is still sending.
 */
import { SpotflowError } from '../errors.js';
import type { Clock, MqttConnection, TimerHandle } from '../ports.js';

/** Silence, while acknowledgements are awaited, after which the link is taken as dead. */
export const deadLinkMs = 15_000;
/** The slowest uplink a large publish is given time for (8 kB/s, 64 kbit/s). */
export const slowestUplinkBytesPerSecond = 8 * 1024;

/** Follows one connection: what it awaits from the broker and when the broker last sent anything. */
export class LinkWatch {
  /** Operations awaiting the broker, oldest first, with their size in bytes. */
  readonly #awaiting = new Map<object, number>();
  #lastPacketAt: number;
  /** When the current run of waiting began (the set of awaited operations went from empty to not empty). */
  #waitingSince = 0;
  #timer: TimerHandle | undefined;
  /** When the timer fires (monotonic ms). */
  #timerAt = 0;
  #stopped = false;

  /** @param onDead called once, with how long the link was silent and how many operations it left waiting. */
  constructor(
    private readonly clock: Clock,
    private readonly onDead: (silentMs: number, awaiting: number) => void,
  ) {
    this.#lastPacketAt = clock.monotonicNow();
  }

  /** Something arrived from the broker. */
  packetReceived(): void {
    this.#lastPacketAt = this.clock.monotonicNow();
  }

  /** An operation that the broker must acknowledge was sent; returns the function to call when it settles. */
  begin(bytes: number): () => void {
    const token = {};
    if (this.#stopped) return () => {};
    if (this.#awaiting.size === 0) this.#waitingSince = this.clock.monotonicNow();
    this.#awaiting.set(token, bytes);
    this.#arm();
    return () => {
      if (!this.#awaiting.delete(token)) return;
      const deadline = this.deadline();
      // The next oldest may allow less time than the timer was set for (a large publish was acknowledged).
      if (deadline === undefined || deadline < this.#timerAt) {
        this.#disarm();
        this.#arm();
      }
    };
  }

  stop(): void {
    this.#stopped = true;
    this.#awaiting.clear();
    this.#disarm();
  }

  /** When the link counts as dead if nothing arrives before (monotonic ms); undefined when nothing is awaited. */
  deadline(): number | undefined {
    const oldest = this.#awaiting.values().next();
    if (oldest.done) return undefined;
    const transmitMs = (oldest.value / slowestUplinkBytesPerSecond) * 1000;
    const allowedMs = Math.max(deadLinkMs, transmitMs + deadLinkMs / 2);
    return Math.max(this.#lastPacketAt, this.#waitingSince) + allowedMs;
  }

  /**
   * One timer at a time, set for the deadline as it stands; when it fires, the deadline is worked out again (packets
   * may have moved it), so a busy connection costs no timer per packet.
   */
  #arm(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const deadline = this.deadline();
    if (deadline === undefined) return;
    this.#timerAt = deadline;
    this.#timer = this.clock.setTimeout(
      () => this.#check(),
      Math.max(deadline - this.clock.monotonicNow(), 0),
    );
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    this.#timer = undefined;
    const deadline = this.deadline();
    if (deadline === undefined || this.#stopped) return;
    const now = this.clock.monotonicNow();
    if (now < deadline) {
      this.#arm();
      return;
    }
    const silentMs = now - Math.max(this.#lastPacketAt, this.#waitingSince);
    const awaiting = this.#awaiting.size;
    this.stop();
    this.onDead(silentMs, awaiting);
  }
}

/** A watched connection also counts the PUBACKs it delivered (the session's proof that the link works). */
export interface WatchedConnection extends MqttConnection {
  readonly acknowledgedPublishes: number;
}

/**
 * `connection` with a {@link LinkWatch} around it: QoS 1 publishes and subscribes are followed, every packet from
 * the broker counts as life, and a dead link ends the connection (forced); its close then reports why.
 */
export function watchLink(
  connection: MqttConnection,
  clock: Clock,
  onDead: (error: SpotflowError) => void,
): WatchedConnection {
  let deadError: SpotflowError | undefined;
  let acknowledgedPublishes = 0;
  const watch = new LinkWatch(clock, (silentMs, awaiting) => {
    deadError = new SpotflowError(
      'NETWORK',
      `No packet from the hub for ${Math.round(silentMs / 1000)} s while ${awaiting} ` +
        `${awaiting === 1 ? 'operation awaited its' : 'operations awaited their'} acknowledgement: the link is dead`,
    );
    onDead(deadError);
    void connection.end(true).catch(() => {});
  });
  connection.onPacket(() => watch.packetReceived());
  connection.onClose(() => watch.stop());
  const followed = (bytes: number, operation: () => Promise<void>): Promise<void> => {
    const settle = watch.begin(bytes);
    return operation().finally(settle);
  };
  return {
    get acknowledgedPublishes() {
      return acknowledgedPublishes;
    },
    publish: (topic, payload, qos) =>
      qos === 1
        ? followed(topic.length + payload.length, () => connection.publish(topic, payload, qos)).then(() => {
            acknowledgedPublishes++;
          })
        : connection.publish(topic, payload, qos),
    subscribe: (topics) =>
      followed(
        topics.reduce((sum, topic) => sum + topic.length, 0),
        () => connection.subscribe(topics),
      ),
    setMessageHandler: (handler) => connection.setMessageHandler(handler),
    onPacket: (listener) => connection.onPacket(listener),
    onClose: (listener) => connection.onClose((error) => listener(deadError ?? error)),
    end: (force) => connection.end(force),
  };
}
