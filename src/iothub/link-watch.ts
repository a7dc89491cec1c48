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
 *
 * Packets arriving do not save a publish whose acknowledgement was lost. A broker acknowledges QoS 1 publishes in
 * the order it received them (MQTT 3.1.1, 4.6.0-2), so once a later publish is acknowledged an earlier one still
 * waiting will not be; after {@link deadLinkMs} more (for a broker that bends the rule), the connection is dropped
 * and the session sends it again on the next. A slow or throttling broker that acknowledges nothing is not
 * overtaken and is left alone.
 */
import { SpotflowError } from '../errors.js';
import type { Clock, MqttConnection, TimerHandle } from '../ports.js';

/** Silence, while acknowledgements are awaited, after which the link is taken as dead. */
export const deadLinkMs = 15_000;
/** The slowest uplink a large publish is given time for (8 kB/s, 64 kbit/s). */
export const slowestUplinkBytesPerSecond = 8 * 1024;

/** Why a link was given up: silence, or a publish whose acknowledgement a later publish's overtook. */
export type DeadLink =
  | { reason: 'silence'; silentMs: number; awaiting: number }
  | { reason: 'overtaken'; waitedMs: number; awaiting: number };

interface Awaited {
  bytes: number;
  publish: boolean;
  /** Its place in the order of sending. */
  seq: number;
  /** When the operation was sent (monotonic ms). */
  sentAt: number;
  /** When a publish sent after it was acknowledged (monotonic ms). */
  overtakenAt: number | undefined;
}

/** Follows one connection: what it awaits from the broker and when the broker last sent anything. */
export class LinkWatch {
  /** Operations awaiting the broker, oldest first (a Map keeps insertion order). */
  readonly #awaiting = new Map<object, Awaited>();
  #lastPacketAt: number;
  /** When the current run of waiting began (the set of awaited operations went from empty to not empty). */
  #waitingSince = 0;
  #timer: TimerHandle | undefined;
  /** When the timer fires (monotonic ms). */
  #timerAt = 0;
  #stopped = false;
  #sent = 0;

  /** @param onDead called once, with why the link counts as dead and how many operations it left waiting. */
  constructor(
    private readonly clock: Clock,
    private readonly onDead: (verdict: DeadLink) => void,
  ) {
    this.#lastPacketAt = clock.monotonicNow();
  }

  /** Something arrived from the broker. */
  packetReceived(): void {
    this.#lastPacketAt = this.clock.monotonicNow();
  }

  /**
   * An operation that the broker must acknowledge was sent (`publish`: a QoS 1 PUBLISH; otherwise e.g. a
   * SUBSCRIBE); returns the function to call when it settles, `acknowledged` or failed.
   */
  begin(bytes: number, publish = true): (acknowledged: boolean) => void {
    const token = {};
    if (this.#stopped) return () => {};
    const now = this.clock.monotonicNow();
    if (this.#awaiting.size === 0) this.#waitingSince = now;
    this.#awaiting.set(token, { bytes, publish, seq: this.#sent++, sentAt: now, overtakenAt: undefined });
    this.#arm();
    return (acknowledged) => {
      const settled = this.#awaiting.get(token);
      if (settled === undefined) return;
      this.#awaiting.delete(token);
      if (acknowledged && settled.publish) this.#overtake(settled.seq);
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

  /** When the link counts as dead if nothing changes before (monotonic ms); undefined when nothing is awaited. */
  deadline(): number | undefined {
    const silence = this.#silenceDeadline();
    const lost = this.#lostAckDeadline();
    return silence === undefined ? undefined : Math.min(silence, lost ?? silence);
  }

  #silenceDeadline(): number | undefined {
    const oldest = this.#awaiting.values().next();
    if (oldest.done) return undefined;
    const transmitMs = (oldest.value.bytes / slowestUplinkBytesPerSecond) * 1000;
    const allowedMs = Math.max(deadLinkMs, transmitMs + deadLinkMs / 2);
    return Math.max(this.#lastPacketAt, this.#waitingSince) + allowedMs;
  }

  /** The oldest waiting publish was overtaken first (every older one is overtaken whenever a newer one is). */
  #oldestPublish(): Awaited | undefined {
    for (const operation of this.#awaiting.values()) if (operation.publish) return operation;
    return undefined;
  }

  #lostAckDeadline(): number | undefined {
    const overtakenAt = this.#oldestPublish()?.overtakenAt;
    return overtakenAt === undefined ? undefined : overtakenAt + deadLinkMs;
  }

  /** Publish number `seq` was acknowledged: every publish sent before it and still waiting is overtaken. */
  #overtake(seq: number): void {
    const now = this.clock.monotonicNow();
    for (const operation of this.#awaiting.values()) {
      if (operation.seq > seq) break;
      if (operation.publish) operation.overtakenAt ??= now;
    }
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
    const awaiting = this.#awaiting.size;
    const lost = this.#lostAckDeadline();
    const verdict: DeadLink =
      lost !== undefined && lost <= now
        ? { reason: 'overtaken', waitedMs: now - this.#oldestPublish()!.sentAt, awaiting }
        : { reason: 'silence', silentMs: now - Math.max(this.#lastPacketAt, this.#waitingSince), awaiting };
    this.stop();
    this.onDead(verdict);
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
  const watch = new LinkWatch(clock, (verdict) => {
    deadError = new SpotflowError('NETWORK', deadLinkMessage(verdict));
    onDead(deadError);
    void connection.end(true).catch(() => {});
  });
  connection.onPacket(() => watch.packetReceived());
  connection.onClose(() => watch.stop());
  const followed = (bytes: number, publish: boolean, operation: () => Promise<void>): Promise<void> => {
    const settle = watch.begin(bytes, publish);
    // One reaction per operation (it runs once per message): the count of acknowledged publishes goes in it too.
    return operation().then(
      () => {
        settle(true);
        if (publish) acknowledgedPublishes++;
      },
      (error: unknown) => {
        settle(false);
        throw error;
      },
    );
  };
  return {
    get acknowledgedPublishes() {
      return acknowledgedPublishes;
    },
    publish: (topic, payload, qos) =>
      qos === 1
        ? followed(topic.length + payload.length, true, () => connection.publish(topic, payload, qos))
        : connection.publish(topic, payload, qos),
    subscribe: (topics) =>
      followed(
        topics.reduce((sum, topic) => sum + topic.length, 0),
        false,
        () => connection.subscribe(topics),
      ),
    setMessageHandler: (handler) => connection.setMessageHandler(handler),
    onPacket: (listener) => connection.onPacket(listener),
    onClose: (listener) => connection.onClose((error) => listener(deadError ?? error)),
    end: (force) => connection.end(force),
  };
}

function deadLinkMessage(verdict: DeadLink): string {
  const { awaiting } = verdict;
  const waiting = `${awaiting} ${awaiting === 1 ? 'operation awaited its' : 'operations awaited their'} acknowledgement`;
  if (verdict.reason === 'silence') {
    return `No packet from the hub for ${Math.round(verdict.silentMs / 1000)} s while ${waiting}: the link is dead`;
  }
  return (
    `The hub acknowledged later publishes but not one sent ${Math.round(verdict.waitedMs / 1000)} s ago ` +
    `(${waiting}): its acknowledgement was lost, so the connection is dropped to send it again`
  );
}
