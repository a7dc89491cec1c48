/**
 * When the token handler renews what, as pure functions of its pacing state and the time, so that every rule
 * (SPEC §2 step 4, SPEC §3 "never hammer the hub") is a row in a table of cases (renewal-plan.test.ts).
 * Intervals between renewals are measured on the monotonic clock, because NTP may step the wall clock by hours.
 */
import { effectiveExpiryUntil } from './expiry.js';

/**
 * SAS renewals never come closer together than this (SPEC §3), except when a SAS that looked healthy on arrival
 * is due sooner by its own lifetime (SPEC §2 step 4: a 2 s SAS is renewed after 1 s).
 */
export const MIN_RENEWAL_INTERVAL_MS = 10_000;
/** Longest wait between renewals after refusals in a row: the device is offline meanwhile. */
export const MAX_REFUSED_INTERVAL_MS = 5 * 60_000;
/**
 * Longest wait between renewals of SAS tokens that keep arriving already expired by the device's clock: the hub
 * (whose clock is right) accepts them, and a typical 1 h SAS would be renewed after 30 min anyway.
 */
export const MAX_SKEWED_INTERVAL_MS = 30 * 60_000;
/** A SAS with less than this left by the device's clock when it arrives counts as already expired. */
export const MIN_SAS_REMAINING_MS = 1000;
/** The loop wakes at least this often: the wall clock may jump (NTP after boot) and timers do not follow it. */
export const MAX_SLEEP_MS = 60_000;

/** What is known about the current SAS, to pace its renewal. */
export interface SasPacing {
  /** Monotonic time when it arrived (when the client started, for one read from the database). */
  arrivedAt: number;
  /** How long after its arrival it is due for renewal by the monotonic clock (Infinity: the wall clock decides). */
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
  /** Wall time the stored SAS is due for renewal. */
  sasRenewAt: number;
  /** Wall time the registration token is due for refresh; null when it does not expire. */
  registrationTokenRenewAt: number | null;
}

export interface Now {
  wall: number;
  monotonic: number;
}

/** The next thing to do. `renewSas` waits `waitMs` first and sets the strike count to `strikes`. */
export type RenewalStep =
  | { kind: 'provision' }
  | { kind: 'renewSas'; waitMs: number; strikes: number }
  | { kind: 'refreshRegistrationToken' }
  | { kind: 'sleep'; ms: number };

/**
 * Provisioning first; then the SAS when refused or due (by either clock); then the registration token when due;
 * otherwise sleep until the sooner of the two is due, at most {@link MAX_SLEEP_MS}.
 *
 * Every SAS renewal, scheduled or after a refusal, starts no sooner than an interval after the previous one, and
 * never waits longer than that interval (NTP stepping the clock back must not make the wait as long as the step).
 * The interval is 10 s, doubling with each renewal in a row that brought no usable SAS; a healthy SAS with a
 * shorter lifetime keeps its own schedule. A SAS that lived to its renewal time unrefused ends a run of strikes.
 */
export function nextRenewal(state: RenewalState, now: Now): RenewalStep {
  if (state.needsProvisioning) return { kind: 'provision' };
  const sasDueIn = Math.min(
    state.sasRenewAt - now.wall,
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
  const tokenDueIn = (state.registrationTokenRenewAt ?? Number.POSITIVE_INFINITY) - now.wall;
  if (tokenDueIn <= 0) return { kind: 'refreshRegistrationToken' };
  return { kind: 'sleep', ms: Math.max(0, Math.min(sasDueIn, tokenDueIn, MAX_SLEEP_MS)) };
}

/**
 * When a SAS that just arrived, expiring at `sasExpiresAt`, is due for renewal. One whose expiry is already past
 * (or less than a second away) by the device's clock means the clock is ahead of the platform's by more than the
 * SAS lifetime, or the platform sent a past expiry. Its real lifetime is unknown, so it is kept (the hub decides
 * whether it accepts it) and renewed after the backoff interval for one more strike, not at once: renewing at once
 * would loop, each new SAS looking expired too, each one a reconnect.
 */
export function sasArrival(
  sasExpiresAt: number,
  strikes: number,
  now: Now,
): { sasRenewAt: number; pacing: SasPacing } {
  if (sasExpiresAt - now.wall >= MIN_SAS_REMAINING_MS) {
    const sasRenewAt = effectiveExpiryUntil(now.wall, sasExpiresAt);
    return {
      sasRenewAt,
      pacing: { arrivedAt: now.monotonic, renewAfterMs: sasRenewAt - now.wall, struck: false },
    };
  }
  const renewAfterMs = backoffInterval(strikes + 1, MAX_SKEWED_INTERVAL_MS);
  return {
    sasRenewAt: now.wall + renewAfterMs,
    pacing: { arrivedAt: now.monotonic, renewAfterMs, struck: true },
  };
}

/** 10 s for the first renewal in a row that brought no usable SAS, doubling with each more, up to `maxMs`. */
export function backoffInterval(strikes: number, maxMs: number): number {
  return Math.min(maxMs, MIN_RENEWAL_INTERVAL_MS * 2 ** Math.max(0, strikes - 1));
}
