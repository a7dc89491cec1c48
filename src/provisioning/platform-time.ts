/**
 * The platform's time as the device knows it. The device's wall clock may be years off (no RTC battery, an RTC set
 * ahead) and may be stepped at any moment (NTP), so credentials are never timed by it: the platform's time is learnt
 * from its answers (the HTTP `Date` header) and carried forward on the monotonic clock, which never jumps. Before the
 * first answer, the best guess is the wall clock plus the offset learnt in an earlier run.
 */
import type { Clock } from '../ports.js';

/** A step of the wall clock against the monotonic one larger than this is a jump (NTP, a user, a suspend). */
export const WALL_JUMP_MS = 10_000;
/** Allowed for an answer's way from the platform to the device, when placing the platform's time. */
const ANSWER_LATENCY_MS = 1000;

export class PlatformTime {
  /** The platform's time at a monotonic instant. */
  #anchor: { platform: number; monotonic: number };
  #known = false;
  /** Wall minus monotonic time when last looked at: a change is a step of the wall clock. */
  #wallLead: number;

  /** @param offsetMs the platform's time minus the device's wall time, as an earlier run learnt it (0: unknown). */
  constructor(
    private readonly clock: Clock,
    offsetMs = 0,
  ) {
    const monotonic = clock.monotonicNow();
    const wall = clock.now();
    this.#anchor = { platform: wall + (Number.isFinite(offsetMs) ? offsetMs : 0), monotonic };
    this.#wallLead = wall - monotonic;
  }

  /** The platform's time now, as well as the device knows it. */
  now(): number {
    return this.#anchor.platform + (this.clock.monotonicNow() - this.#anchor.monotonic);
  }

  /** Whether an answer of the platform told its time during this run (otherwise {@link now} is the wall clock's guess). */
  get known(): boolean {
    return this.#known;
  }

  /** The platform's time minus the device's wall time: what the next run starts from. */
  get offsetMs(): number {
    return this.now() - this.clock.now();
  }

  /**
   * The platform said its time is `likely`, and surely between `earliest` and `latest` (an answer's Date header is
   * whole seconds, and the answer took time to arrive). A guess already within those bounds is kept, as it is more
   * precise; one outside them is replaced by `likely`.
   */
  learn(likely: number, earliest: number, latest: number): void {
    if (![likely, earliest, latest].every(Number.isFinite) || !(earliest <= likely && likely <= latest))
      return;
    const guess = this.now();
    if (guess < earliest || guess > latest) {
      this.#anchor = { platform: likely, monotonic: this.clock.monotonicNow() };
    }
    this.#known = true;
  }
  /**
   * An answer's Date header said `date` (whole seconds, the time it was written): the platform's time is likely in
   * the middle of that second, surely within it or the time the answer took to arrive.
   */
  learnFromDate(date: number): void {
    this.learn(date + 500, date, date + 1000 + ANSWER_LATENCY_MS);
  }

  /**
   * `register` said a token expiring at `expiresAt` (the platform's time) has `lifetimeMs` left, in whole seconds
   * rounded down: the platform's time is within a second before expiry minus it.
   */
  learnFromLifetime(expiresAt: number, lifetimeMs: number): void {
    const at = expiresAt - lifetimeMs;
    this.learn(at - 500, at - 1000, at + ANSWER_LATENCY_MS);
  }

  /**
   * How far the wall clock stepped forward against the monotonic one since the last call (negative: back). A step
   * forward may be a suspend, during which the monotonic clock stood still while the platform's time went on: then
   * {@link now} is behind, and the caller learns the time again.
   */
  wallStep(): number {
    const lead = this.clock.now() - this.clock.monotonicNow();
    const step = lead - this.#wallLead;
    this.#wallLead = lead;
    return step;
  }
}
