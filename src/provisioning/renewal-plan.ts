/**
 * When the token handler renews what, as pure functions of its pacing state and the time, so that every rule
 * (SPEC §2 step 4, SPEC §3 "never hammer the hub") is a row in a table of cases (renewal-plan.test.ts).
 * Due times are on the platform's clock (platform-time.ts: learnt from its answers, carried on the monotonic clock);
 * intervals between renewals are measured on the monotonic clock. The device's wall clock decides nothing.
 */
import { effectiveExpiryUntil } from './expiry.js';

/**
 * SAS renewals never come closer together than this (SPEC §3), except when a SAS that looked healthy on arrival
 * is due sooner by its own lifetime (SPEC §2 step 4: a 2 s SAS is renewed after 1 s).
 */
export const MIN_RENEWAL_INTERVAL_MS = 10_000;
/** Longest wait between renewals after refusals in a row (the device is offline meanwhile), and between time checks. */
export const MAX_REFUSED_INTERVAL_MS = 5 * 60_000;
/**
 * Longest wait between refreshes of registration tokens that keep arriving already expired by the platform's time
 * as the device knows it (only when the platform tells neither its time nor the token's lifetime, and the device's
 * clock is ahead): their real lifetime is unknown, and a token of a few minutes must not expire meanwhile.
 */
export const MAX_STRUCK_TOKEN_INTERVAL_MS = 60_000;
/**
 * Longest wait between renewals of SAS tokens that keep arriving already expired by the device's clock: the hub
 * (whose clock is right) accepts them, and a typical 1 h SAS would be renewed after 30 min anyway.
 */
export const MAX_SKEWED_INTERVAL_MS = 30 * 60_000;
/** A SAS with less than this left by the device's clock when it arrives counts as already expired. */
export const MIN_SAS_REMAINING_MS = 1000;
/**
 * The loop wakes at least this often to look at the wall clock: a step forward may be a suspend (the monotonic clock
 * stood still, the platform's time did not), so the time is learnt again within seconds, not a minute.
 */
export const MAX_SLEEP_MS = 5000;

/** What is known about the current SAS, to pace its renewal. */
export interface SasPacing {
  /** Monotonic time when it arrived (when the client started, for one read from the database). */
  arrivedAt: number;
  /** How long after its arrival it is due for renewal by the monotonic clock (Infinity: its due time on the platform's clock decides). */
  renewAfterMs: number;
  /** It arrived already expired, or the hub refused it: renewing it is a retry, paced by {@link backoffInterval}. */
  struck: boolean;
}

export interface RenewalState {
  /** The registration token is no longer accepted: provision again. */
  needsProvisioning: boolean;
  /** The hub refused the current SAS: renew it as soon as pacing allows. */
  refused: boolean;
  /** Monotonic time the last SAS renewal began; undefined before the first. */
  lastRenewalAt: number | undefined;
  sas: SasPacing;
  /** Renewals in a row that brought no usable SAS (it arrived already expired, or the hub refused it). */
  strikes: number;
  /** Platform time the stored SAS is due for renewal. */
  sasRenewAt: number;
  /** Platform time the registration token is due for refresh; null when it does not expire. */
  registrationTokenRenewAt: number | null;
  /**
   * The platform's time is not known: the client started (from the database: only a guess from the wall clock) or
   * the wall clock stepped forward. A refresh of the registration token tells it, and re-plans everything.
   */
  timeUnknown: boolean;
  /** Monotonic time the last refresh of the registration token began; undefined before the first. */
  lastRefreshAt: number | undefined;
  /** Refreshes made only to learn the time since the last one that was due: each waits twice as long. */
  timeChecks: number;
}

/** The time: the platform's as the device knows it (platform-time.ts), and the monotonic clock's. */
export interface Now {
  platform: number;
  monotonic: number;
}

/** The next thing to do. `renewSas` waits `waitMs` first and sets the strike count to `strikes`. */
export type RenewalStep =
  | { kind: 'provision' }
  | { kind: 'renewSas'; waitMs: number; strikes: number }
  | { kind: 'refreshRegistrationToken'; timeCheck: boolean }
  | { kind: 'sleep'; ms: number };

/**
 * Provisioning first; then the SAS when refused or due (by either clock); then the registration token when due, or
 * to learn the platform's time; otherwise sleep until the sooner of the two is due, at most {@link MAX_SLEEP_MS}.
 *
 * Every SAS renewal, scheduled or after a refusal, starts no sooner than an interval after the previous one, and
 * never waits longer than that interval (NTP stepping the clock back must not make the wait as long as the step).
 * The interval is 10 s, doubling with each renewal in a row that brought no usable SAS; a healthy SAS with a
 * shorter lifetime keeps its own schedule. A SAS that lived to its renewal time unrefused ends a run of strikes.
 */
export function nextRenewal(state: RenewalState, now: Now): RenewalStep {
  if (state.needsProvisioning) return { kind: 'provision' };
  const sasDueIn = Math.min(
    state.sasRenewAt - now.platform,
    state.sas.arrivedAt + state.sas.renewAfterMs - now.monotonic,
  );
  if (state.refused || sasDueIn <= 0) {
    const retry = state.refused || state.sas.struck;
    const strikes = retry ? state.strikes : 0;
    if (state.lastRenewalAt === undefined) return { kind: 'renewSas', waitMs: 0, strikes };
    const interval = retry
      ? backoffInterval(strikes, state.refused ? MAX_REFUSED_INTERVAL_MS : MAX_SKEWED_INTERVAL_MS)
      : Math.min(MIN_RENEWAL_INTERVAL_MS, state.sas.renewAfterMs);
    const waitMs = Math.min(Math.max(interval - (now.monotonic - state.lastRenewalAt), 0), interval);
    return { kind: 'renewSas', waitMs, strikes };
  }
  let tokenDueIn = (state.registrationTokenRenewAt ?? Number.POSITIVE_INFINITY) - now.platform;
  if (tokenDueIn <= 0) return { kind: 'refreshRegistrationToken', timeCheck: false };
  if (state.timeUnknown) {
    // Learning the time is not worth a storm: 10 s after the last refresh, doubling with each check in a row.
    const interval = backoffInterval(state.timeChecks + 1, MAX_REFUSED_INTERVAL_MS);
    const since = state.lastRefreshAt === undefined ? interval : now.monotonic - state.lastRefreshAt;
    tokenDueIn = Math.min(Math.max(interval - since, 0), interval);
    if (tokenDueIn <= 0) return { kind: 'refreshRegistrationToken', timeCheck: true };
  }
  return { kind: 'sleep', ms: Math.max(0, Math.min(sasDueIn, tokenDueIn, MAX_SLEEP_MS)) };
}

/**
 * When a registration token that just arrived, expiring at `expiresAt` (null: never), is due for refresh, in
 * platform time. One that arrived already expired (less than a second left) by the platform's time as the device
 * knows it is kept (the platform decides whether it accepts it) and refreshed after the backoff interval for one more
 * strike, at most a minute: refreshing at once would loop, each new token looking expired too.
 */
export function tokenArrival(
  expiresAt: number | null,
  strikes: number,
  now: number,
): { renewAt: number | null; struck: boolean } {
  if (expiresAt === null) return { renewAt: null, struck: false };
  if (expiresAt - now >= MIN_SAS_REMAINING_MS) {
    return { renewAt: effectiveExpiryUntil(now, expiresAt), struck: false };
  }
  return { renewAt: now + backoffInterval(strikes + 1, MAX_STRUCK_TOKEN_INTERVAL_MS), struck: true };
}

/**
 * When a SAS that just arrived, expiring at `sasExpiresAt`, is due for renewal. One whose expiry is already past
 * (or less than a second away) by the platform's time as the device knows it (its answer's Date header; without one,
 * the device's clock, which may be ahead by more than the SAS lifetime), or the platform sent a past expiry. Its real
 * lifetime is unknown, so it is kept (the hub decides whether it accepts it) and renewed after the backoff interval
 * for one more strike, not at once: renewing at once would loop, each new SAS looking expired too, each one a
 * reconnect.
 */
export function sasArrival(
  sasExpiresAt: number,
  strikes: number,
  now: Now,
): { sasRenewAt: number; pacing: SasPacing } {
  if (sasExpiresAt - now.platform >= MIN_SAS_REMAINING_MS) {
    const sasRenewAt = effectiveExpiryUntil(now.platform, sasExpiresAt);
    return {
      sasRenewAt,
      pacing: { arrivedAt: now.monotonic, renewAfterMs: sasRenewAt - now.platform, struck: false },
    };
  }
  const renewAfterMs = backoffInterval(strikes + 1, MAX_SKEWED_INTERVAL_MS);
  return {
    sasRenewAt: now.platform + renewAfterMs,
    pacing: { arrivedAt: now.monotonic, renewAfterMs, struck: true },
  };
}

/** 10 s for the first renewal in a row that brought no usable SAS, doubling with each more, up to `maxMs`. */
export function backoffInterval(strikes: number, maxMs: number): number {
  return Math.min(maxMs, MIN_RENEWAL_INTERVAL_MS * 2 ** Math.max(0, strikes - 1));
}
