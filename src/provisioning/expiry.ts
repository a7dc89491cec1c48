/**
 * Token expiry arithmetic (SPEC.md §2 step 4) and the duration and timestamp formats the platform uses for it.
 * The platform's clock and the device's may disagree, so the SDK never waits until the very end of a lifetime:
 * it treats a token as expiring well before the server says it does.
 */
import { SpotflowError } from '../errors.js';

const MINUTE_MS = 60_000;

/** Lifetimes above this get the "10 minutes early" rule; shorter ones simply expire halfway. */
export const LONG_LIFETIME_MS = 25 * MINUTE_MS;
/** The safety margin subtracted from long lifetimes. */
export const EXPIRY_MARGIN_MS = 10 * MINUTE_MS;

/**
 * When the SDK should consider a token expired (and renew it), in ms since the epoch: for a lifetime L counted
 * from `issuedAt`, `min(issuedAt + L − 10 min, issuedAt + L/2)` when L > 25 min, else `issuedAt + L/2`.
 * A lifetime of zero or less yields `issuedAt` (already expired).
 *
 * @param issuedAt when the lifetime was learnt (usually "now", the time of the response).
 * @param lifetimeMs the token's remaining lifetime as the server reported it.
 */
export function effectiveExpiry(issuedAt: Date | number, lifetimeMs: number): number {
  const start = typeof issuedAt === 'number' ? issuedAt : issuedAt.getTime();
  const lifetime = Math.max(0, lifetimeMs);
  if (!Number.isFinite(start) || Number.isNaN(lifetimeMs)) {
    throw new SpotflowError('INTERNAL', 'effectiveExpiry needs a valid date and lifetime');
  }
  if (lifetime === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  const halfway = start + lifetime / 2;
  return lifetime > LONG_LIFETIME_MS ? Math.min(start + lifetime - EXPIRY_MARGIN_MS, halfway) : halfway;
}

/**
 * {@link effectiveExpiry} for a server that gives an absolute expiry time instead of a lifetime: the lifetime is
 * what remains from `now` until `expiresAt`.
 */
export function effectiveExpiryUntil(now: Date | number, expiresAt: Date | number): number {
  const start = typeof now === 'number' ? now : now.getTime();
  const end = typeof expiresAt === 'number' ? expiresAt : expiresAt.getTime();
  return effectiveExpiry(start, end - start);
}

// Longest duration or furthest time accepted: what a JavaScript Date can represent.
const MAX_TIME_MS = 8.64e15;

const isoDurationPattern =
  /^(-)?P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/i;

// Unit of each capture group above, in ms. Years and months have no fixed length; like .NET's XmlConvert
// they count as 365 and 30 days.
const isoUnitsMs = [
  365 * 86_400_000,
  30 * 86_400_000,
  7 * 86_400_000,
  86_400_000,
  3_600_000,
  MINUTE_MS,
  1000,
] as const;

// .NET TimeSpan "c" format: [-][d.]hh:mm:ss[.fffffff]
const timeSpanPattern = /^(-)?(?:(\d{1,8})\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/;

/**
 * Parses a duration as the platform sends it (`tokenRemainingLifetime`), to milliseconds (possibly fractional).
 * Accepts ISO-8601 durations (`PT3599S`, `P1DT2H`, `PT0.5S`, `P2D`, `P1W`; a fraction only on the smallest unit
 * given) and .NET TimeSpan strings (`23:59:59`, `1.02:03:04.5000000`, `00:00:30`). A leading `-` (an already
 * expired token, as .NET would print it) gives a negative result.
 *
 * @param field names the field in the error message (the value is not quoted).
 * @throws SpotflowError `PROTOCOL` for anything else.
 */
export function parseDuration(text: unknown, field = 'duration'): number {
  const invalid = () =>
    new SpotflowError('PROTOCOL', `${field} is not an ISO-8601 or .NET TimeSpan duration`);
  if (typeof text !== 'string' || text.length > 64) throw invalid();
  const ms = parseIsoDuration(text) ?? parseTimeSpan(text);
  if (ms === undefined) throw invalid();
  if (!(Math.abs(ms) <= MAX_TIME_MS)) {
    throw new SpotflowError('PROTOCOL', `${field} is longer than a date can represent`);
  }
  return ms;
}

function parseIsoDuration(text: string): number | undefined {
  const match = isoDurationPattern.exec(text);
  if (match === null) return undefined;
  const components = match.slice(2);
  const given = components.flatMap((value, index) => (value === undefined ? [] : [index]));
  const last = given.at(-1);
  // "P" or "PT…" with nothing after it, or a "T" with no time component.
  if (last === undefined || (text.toUpperCase().includes('T') && !given.some((index) => index >= 4))) {
    return undefined;
  }
  let ms = 0;
  for (const index of given) {
    const value = components[index]!;
    if (index !== last && /[.,]/.test(value)) return undefined;
    ms += Number(value.replace(',', '.')) * isoUnitsMs[index]!;
  }
  return match[1] === '-' ? -ms : ms;
}

function parseTimeSpan(text: string): number | undefined {
  const match = timeSpanPattern.exec(text);
  if (match === null) return undefined;
  const [, sign, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = ''] = match;
  if (Number(hours) > 23 || Number(minutes) > 59 || Number(seconds) > 59) return undefined;
  const ms =
    Number(days) * 86_400_000 +
    Number(hours) * 3_600_000 +
    Number(minutes) * MINUTE_MS +
    Number(seconds) * 1000 +
    (fraction === '' ? 0 : Number(`0.${fraction}`) * 1000);
  return sign === '-' ? -ms : ms;
}

// RFC 3339 / ISO-8601 extended date-time: 2024-05-01T12:00:00Z, …T12:00:00.1234567+02:00, …T12:00Z.
const timestampPattern =
  /^(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})[Tt ](?<hour>\d{2}):(?<minute>\d{2})(?::(?<second>\d{2})(?:[.,](?<fraction>\d{1,9}))?)?(?:[Zz]|(?<sign>[+-])(?<offsetHours>\d{2}):?(?<offsetMinutes>\d{2}))?$/;

/**
 * Parses an `expirationTime` from the platform to ms since the epoch. `undefined` or `null` (the field is absent)
 * gives `undefined`, meaning the token does not expire. Only ISO-8601 date-times are accepted (not whatever
 * `Date.parse` happens to understand); one without an offset is taken as UTC, so the answer does not depend on the
 * device's time zone. Fractions beyond milliseconds (.NET prints 7 digits) are truncated.
 *
 * @param field names the field in the error message (the value is not quoted).
 * @throws SpotflowError `PROTOCOL` for anything else, including an empty string.
 */
export function parseExpirationTime(text?: unknown, field = 'expirationTime'): number | undefined {
  if (text === undefined || text === null) return undefined;
  const invalid = () => new SpotflowError('PROTOCOL', `${field} is not an ISO-8601 timestamp`);
  if (typeof text !== 'string') throw invalid();
  const groups = timestampPattern.exec(text)?.groups;
  if (groups === undefined) throw invalid();
  const numberOf = (name: string): number => Number(groups[name] ?? '0');
  const [month, day, hour, minute, second] = [
    numberOf('month'),
    numberOf('day'),
    numberOf('hour'),
    numberOf('minute'),
    numberOf('second'),
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) throw invalid();
  // setUTCFullYear rather than Date.UTC, which would read years 0000-0099 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(numberOf('year'), month - 1, day);
  date.setUTCHours(hour, minute, second, Number((groups.fraction ?? '').padEnd(3, '0').slice(0, 3)));
  // Dates roll 31 April over into 1 May; checking the day catches impossible dates.
  if (date.getUTCDate() !== day) throw invalid();
  let offsetMs = 0;
  if (groups.sign !== undefined) {
    const offsetHours = numberOf('offsetHours');
    const offsetMinutes = numberOf('offsetMinutes');
    if (offsetHours > 23 || offsetMinutes > 59) throw invalid();
    offsetMs = (groups.sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * MINUTE_MS;
  }
  return date.getTime() - offsetMs;
}

const httpDatePattern =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const httpMonths = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Dates before this are not taken from a server: a clock at 1970 is a broken one, not the platform's time. */
const EARLIEST_SERVER_DATE_MS = Date.UTC(2000, 0, 1);

/**
 * The platform's time from an HTTP `Date` header (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), in ms
 * since the epoch; `undefined` for a missing header, any other form, an impossible date or one before 2000. Server
 * input is untrusted: whoever calls this falls back to what it knew before.
 */
export function parseHttpDate(text: string | null | undefined): number | undefined {
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const match = httpDatePattern.exec(text.trim());
  if (match === null) return undefined;
  const [, day, month, year, hour, minute, second] = match;
  const [d, h, m, s] = [Number(day), Number(hour), Number(minute), Number(second)];
  if (d < 1 || h > 23 || m > 59 || s > 60) return undefined; // 60: a leap second, as the RFC allows
  const date = new Date(0);
  date.setUTCFullYear(Number(year), httpMonths.indexOf(month!), d);
  if (date.getUTCDate() !== d) return undefined; // 31 Apr rolled over into May
  date.setUTCHours(h, m, Math.min(s, 59), 0);
  const ms = date.getTime();
  return ms >= EARLIEST_SERVER_DATE_MS ? ms : undefined;
}
