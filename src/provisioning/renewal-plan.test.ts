/** The renewal decision as a table: each row a state, a time, and the step it must lead to. */
import { describe, expect, it } from 'vitest';
import {
  type Now,
  nextRenewal,
  type RenewalState,
  type RenewalStep,
  sasArrival,
  tokenArrival,
} from './renewal-plan.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Wall time of every row: noon, 15 January 2025. Monotonic time starts at 0 when the client started. */
const WALL = Date.UTC(2025, 0, 15, 12);

/** A healthy 1 h SAS that arrived at monotonic 0 (renewal due after 30 min), renewed once at start-up. */
function state(overrides: Partial<RenewalState> = {}): RenewalState {
  return {
    needsProvisioning: false,
    refused: false,
    lastRenewalAt: 0,
    sas: { arrivedAt: 0, renewAfterMs: 30 * MINUTE, struck: false },
    strikes: 0,
    sasRenewAt: WALL + 30 * MINUTE,
    registrationTokenRenewAt: null,
    timeUnknown: false,
    lastRefreshAt: undefined,
    timeChecks: 0,
    ...overrides,
  };
}

/** `monotonic` ms after the start, when the platform's time (as the device knows it) is `platformOffset` after it. */
function at(monotonic: number, platformOffset = monotonic): Now {
  return { platform: WALL + platformOffset, monotonic };
}

const cases: { name: string; state: RenewalState; now: Now; step: RenewalStep }[] = [
  {
    name: 'a registration that is no longer valid is provisioned again before anything else',
    state: state({ needsProvisioning: true, refused: true, sasRenewAt: WALL - HOUR }),
    now: at(0),
    step: { kind: 'provision' },
  },
  {
    name: 'nothing due: sleep until the SAS is, but at most 5 s (a step of the wall clock is looked for)',
    state: state(),
    now: at(10 * MINUTE),
    step: { kind: 'sleep', ms: 5 * SECOND },
  },
  {
    name: 'nothing due, SAS due in 3 s: sleep 3 s',
    state: state(),
    now: at(30 * MINUTE - 3 * SECOND),
    step: { kind: 'sleep', ms: 3 * SECOND },
  },
  {
    name: 'registration token due before the SAS: sleep until it is',
    state: state({ registrationTokenRenewAt: WALL + 10 * MINUTE + 2 * SECOND }),
    now: at(10 * MINUTE),
    step: { kind: 'sleep', ms: 2 * SECOND },
  },
  {
    name: 'registration token due: refresh it',
    state: state({ registrationTokenRenewAt: WALL + 10 * MINUTE }),
    now: at(10 * MINUTE),
    step: { kind: 'refreshRegistrationToken', timeCheck: false },
  },
  {
    name: 'SAS and registration token both due: the SAS first (the device cannot connect without it)',
    state: state({ registrationTokenRenewAt: WALL }),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: "SAS due by the platform's time: renew at once (the last renewal is long past)",
    state: state(),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: "the platform's time, learnt again, is 1 h behind the plan: the SAS is still due by the monotonic clock",
    state: state(),
    now: at(30 * MINUTE, 30 * MINUTE - HOUR),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: "the platform's time, learnt again, is 1 h ahead: the SAS is due by it, no sooner than 10 s after the last",
    state: state(),
    now: at(4 * SECOND, HOUR),
    step: { kind: 'renewSas', waitMs: 6 * SECOND, strikes: 0 },
  },
  {
    name: 'the first renewal of the process (none before) never waits',
    state: state({ lastRenewalAt: undefined, sasRenewAt: WALL - HOUR }),
    now: at(0),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'a short-lived (2 s) healthy SAS keeps its own schedule: due after 1 s, no 10 s wait',
    state: state({ sas: { arrivedAt: 0, renewAfterMs: SECOND, struck: false }, sasRenewAt: WALL + SECOND }),
    now: at(SECOND),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'a healthy SAS that lived to its renewal ends a run of strikes',
    state: state({ strikes: 4 }),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'refused 3 s after the last renewal (first strike): wait out the rest of 10 s',
    state: state({
      refused: true,
      strikes: 1,
      sas: { arrivedAt: 0, renewAfterMs: 30 * MINUTE, struck: true },
    }),
    now: at(3 * SECOND),
    step: { kind: 'renewSas', waitMs: 7 * SECOND, strikes: 1 },
  },
  {
    name: 'refused a second time in a row: 20 s after the last renewal',
    state: state({
      refused: true,
      strikes: 2,
      sas: { arrivedAt: 0, renewAfterMs: 30 * MINUTE, struck: true },
    }),
    now: at(5 * SECOND),
    step: { kind: 'renewSas', waitMs: 15 * SECOND, strikes: 2 },
  },
  {
    name: 'refusals in a row back off to at most 5 min',
    state: state({
      refused: true,
      strikes: 12,
      sas: { arrivedAt: 0, renewAfterMs: 30 * MINUTE, struck: true },
    }),
    now: at(0),
    step: { kind: 'renewSas', waitMs: 5 * MINUTE, strikes: 12 },
  },
  {
    name: 'SAS tokens arriving already expired (clock ahead) back off to at most 30 min',
    state: state({
      strikes: 12,
      sas: { arrivedAt: 0, renewAfterMs: 30 * MINUTE, struck: true },
      sasRenewAt: WALL + 30 * MINUTE,
    }),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 12 },
  },
  {
    name: "the platform's time is not known (started from the database): refresh the registration token at once to learn it",
    state: state({ timeUnknown: true }),
    now: at(0),
    step: { kind: 'refreshRegistrationToken', timeCheck: true },
  },
  {
    name: 'the time is not known 3 s after the last refresh (the wall clock stepped forward): 7 s to wait, 5 s at a time',
    state: state({ timeUnknown: true, lastRefreshAt: 0 }),
    now: at(3 * SECOND),
    step: { kind: 'sleep', ms: 5 * SECOND },
  },
  {
    name: 'the time is not known, 8 s after the last refresh: sleep the 2 s left',
    state: state({ timeUnknown: true, lastRefreshAt: 0 }),
    now: at(8 * SECOND),
    step: { kind: 'sleep', ms: 2 * SECOND },
  },
  {
    name: 'the third time check in a row: 40 s after the last refresh, not sooner',
    state: state({ timeUnknown: true, lastRefreshAt: 0, timeChecks: 2 }),
    now: at(39 * SECOND),
    step: { kind: 'sleep', ms: SECOND },
  },
  {
    name: 'the third time check in a row, 40 s after the last refresh: refresh',
    state: state({ timeUnknown: true, lastRefreshAt: 0, timeChecks: 2 }),
    now: at(40 * SECOND),
    step: { kind: 'refreshRegistrationToken', timeCheck: true },
  },
  {
    name: 'time checks in a row wait at most 5 min',
    state: state({ timeUnknown: true, lastRefreshAt: 0, timeChecks: 20, sasRenewAt: WALL + 2 * HOUR }),
    now: at(5 * MINUTE),
    step: { kind: 'refreshRegistrationToken', timeCheck: true },
  },
  {
    name: 'the time is not known and the SAS looks due: the SAS first (its answer tells the time too)',
    state: state({ timeUnknown: true, lastRenewalAt: undefined, sasRenewAt: WALL - HOUR }),
    now: at(0),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'the time is not known and the registration token is due: a refresh that was due (no check)',
    state: state({ timeUnknown: true, lastRefreshAt: 0, registrationTokenRenewAt: WALL + SECOND }),
    now: at(SECOND),
    step: { kind: 'refreshRegistrationToken', timeCheck: false },
  },
  {
    name: 'a last renewal "in the future" (never happens, but the wait stays bounded by the interval)',
    state: state({ refused: true, strikes: 1, lastRenewalAt: HOUR }),
    now: at(0),
    step: { kind: 'renewSas', waitMs: 10 * SECOND, strikes: 1 },
  },
];

describe('nextRenewal', () => {
  it.each(cases)('$name', ({ state: given, now, step }) => {
    expect(nextRenewal(given, now)).toEqual(step);
  });

  it('is pure: the state it is given is left as it was', () => {
    const given = state({ strikes: 4 });
    const copy = structuredClone(given);
    nextRenewal(given, at(30 * MINUTE));
    expect(given).toEqual(copy);
  });
});

describe('sasArrival', () => {
  it.each([
    {
      name: 'a 1 h SAS: renewed 30 min after it arrived',
      lifetime: HOUR,
      strikes: 0,
      renewAfterMs: 30 * MINUTE,
      struck: false,
    },
    {
      name: 'a 2 h SAS: renewed halfway (1 h), which is sooner than 10 min before it expires',
      lifetime: 2 * HOUR,
      strikes: 0,
      renewAfterMs: HOUR,
      struck: false,
    },
    {
      name: 'a 2 s SAS: renewed after 1 s',
      lifetime: 2 * SECOND,
      strikes: 0,
      renewAfterMs: SECOND,
      struck: false,
    },
    {
      name: 'already expired by the device clock: a strike, renewed after 10 s',
      lifetime: -HOUR,
      strikes: 0,
      renewAfterMs: 10 * SECOND,
      struck: true,
    },
    {
      name: 'less than 1 s left: a strike too',
      lifetime: 999,
      strikes: 0,
      renewAfterMs: 10 * SECOND,
      struck: true,
    },
    {
      name: 'already expired, the third in a row: 40 s',
      lifetime: -HOUR,
      strikes: 2,
      renewAfterMs: 40 * SECOND,
      struck: true,
    },
  ])('$name', ({ lifetime, strikes, renewAfterMs, struck }) => {
    const now = at(5 * SECOND);
    const arrival = sasArrival(now.platform + lifetime, strikes, now);
    expect(arrival.pacing).toEqual({ arrivedAt: now.monotonic, renewAfterMs, struck });
    expect(arrival.sasRenewAt).toBe(now.platform + renewAfterMs);
  });
});

describe('tokenArrival', () => {
  it.each([
    { name: 'a 300 s token: refreshed after 150 s', lifetime: 300 * SECOND, strikes: 0, after: 150 * SECOND },
    {
      name: 'a 7-day token: halfway (sooner than 10 min before it expires)',
      lifetime: 7 * 24 * HOUR,
      strikes: 0,
      after: 3.5 * 24 * HOUR,
    },
    {
      name: 'already expired by the platform time known: a strike, 10 s',
      lifetime: -HOUR,
      strikes: 0,
      after: 10 * SECOND,
    },
    { name: 'already expired, the third in a row: 40 s', lifetime: -HOUR, strikes: 2, after: 40 * SECOND },
    {
      name: 'already expired, many in a row: at most 1 min (a short-lived token must not expire meanwhile)',
      lifetime: -HOUR,
      strikes: 12,
      after: MINUTE,
    },
  ])('$name', ({ lifetime, strikes, after }) => {
    const arrival = tokenArrival(WALL + lifetime, strikes, WALL);
    expect(arrival).toEqual({ renewAt: WALL + after, struck: lifetime < 0 });
  });

  it('a token that does not expire is never refreshed', () => {
    expect(tokenArrival(null, 3, WALL)).toEqual({ renewAt: null, struck: false });
  });
});
