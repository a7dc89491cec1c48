/** The renewal decision as a table: each row a state, a time, and the step it must lead to. */
import { describe, expect, it } from 'vitest';
import { type Now, nextRenewal, type RenewalState, type RenewalStep, sasArrival } from './renewal-plan.js';

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
    ...overrides,
  };
}

function at(monotonic: number, wallOffset = monotonic): Now {
  return { wall: WALL + wallOffset, monotonic };
}

const cases: { name: string; state: RenewalState; now: Now; step: RenewalStep }[] = [
  {
    name: 'a registration that is no longer valid is provisioned again before anything else',
    state: state({ needsProvisioning: true, refused: true, sasRenewAt: WALL - HOUR }),
    now: at(0),
    step: { kind: 'provision' },
  },
  {
    name: 'nothing due: sleep until the SAS is, but at most a minute (the wall clock may jump)',
    state: state(),
    now: at(10 * MINUTE),
    step: { kind: 'sleep', ms: MINUTE },
  },
  {
    name: 'nothing due, SAS due in 20 s: sleep 20 s',
    state: state(),
    now: at(30 * MINUTE - 20 * SECOND),
    step: { kind: 'sleep', ms: 20 * SECOND },
  },
  {
    name: 'registration token due before the SAS: sleep until it is',
    state: state({ registrationTokenRenewAt: WALL + 10 * MINUTE + 5 * SECOND }),
    now: at(10 * MINUTE),
    step: { kind: 'sleep', ms: 5 * SECOND },
  },
  {
    name: 'registration token due: refresh it',
    state: state({ registrationTokenRenewAt: WALL + 10 * MINUTE }),
    now: at(10 * MINUTE),
    step: { kind: 'refreshRegistrationToken' },
  },
  {
    name: 'SAS and registration token both due: the SAS first (the device cannot connect without it)',
    state: state({ registrationTokenRenewAt: WALL }),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'SAS due by the wall clock: renew at once (the last renewal is long past)',
    state: state(),
    now: at(30 * MINUTE),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'the wall clock stepped back 1 h: the SAS is still due by the monotonic clock',
    state: state(),
    now: at(30 * MINUTE, 30 * MINUTE - HOUR),
    step: { kind: 'renewSas', waitMs: 0, strikes: 0 },
  },
  {
    name: 'the wall clock stepped forward 1 h: the SAS is due by the wall clock, no sooner than 10 s after the last',
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
    const arrival = sasArrival(now.wall + lifetime, strikes, now);
    expect(arrival.pacing).toEqual({ arrivedAt: now.monotonic, renewAfterMs, struck });
    expect(arrival.sasRenewAt).toBe(now.wall + renewAfterMs);
  });
});
