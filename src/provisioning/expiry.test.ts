import { describe, expect, it } from 'vitest';
import { isSpotflowError } from '../errors.js';
import {
  EXPIRY_MARGIN_MS,
  effectiveExpiry,
  effectiveExpiryUntil,
  LONG_LIFETIME_MS,
  parseDuration,
  parseExpirationTime,
  parseHttpDate,
} from './expiry.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

function expectProtocolError(action: () => unknown): void {
  try {
    action();
  } catch (error) {
    expect(isSpotflowError(error, 'PROTOCOL')).toBe(true);
    return;
  }
  expect.unreachable('expected a PROTOCOL error');
}

describe('effectiveExpiry', () => {
  it('expires short lifetimes (≤ 25 min) halfway', () => {
    expect(effectiveExpiry(NOW, 10 * MINUTE)).toBe(NOW + 5 * MINUTE);
    expect(effectiveExpiry(NOW, 25 * MINUTE)).toBe(NOW + 12.5 * MINUTE);
    expect(effectiveExpiry(NOW, 1000)).toBe(NOW + 500);
  });

  it('takes min(L − 10 min, L/2) for lifetimes over 25 min', () => {
    expect(effectiveExpiry(NOW, 25 * MINUTE + 2)).toBe(NOW + 12.5 * MINUTE + 1);
    expect(effectiveExpiry(NOW, HOUR)).toBe(NOW + 30 * MINUTE);
    expect(effectiveExpiry(NOW, DAY)).toBe(NOW + 12 * HOUR);
    // The formula literally, over a range of lifetimes.
    for (let minutes = 26; minutes < 5000; minutes += 37) {
      const L = minutes * MINUTE;
      expect(effectiveExpiry(NOW, L)).toBe(Math.min(NOW + L - EXPIRY_MARGIN_MS, NOW + L / 2));
    }
    expect(LONG_LIFETIME_MS).toBe(25 * MINUTE);
  });

  it('accepts a Date as well as ms', () => {
    expect(effectiveExpiry(new Date(NOW), HOUR)).toBe(effectiveExpiry(NOW, HOUR));
  });

  it('is always before the real expiry and never before issuedAt', () => {
    for (const L of [1, 999, MINUTE, 20 * MINUTE, 30 * MINUTE, 7 * DAY, 365 * DAY]) {
      const expiry = effectiveExpiry(NOW, L);
      expect(expiry).toBeGreaterThanOrEqual(NOW);
      expect(expiry).toBeLessThan(NOW + L);
    }
  });

  it('treats zero or negative lifetimes as already expired', () => {
    expect(effectiveExpiry(NOW, 0)).toBe(NOW);
    expect(effectiveExpiry(NOW, -5 * MINUTE)).toBe(NOW);
  });

  it('keeps an infinite lifetime infinite and refuses NaN', () => {
    expect(effectiveExpiry(NOW, Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(() => effectiveExpiry(NOW, Number.NaN)).toThrow();
    expect(() => effectiveExpiry(new Date(Number.NaN), HOUR)).toThrow();
  });

  it('has an absolute-time form', () => {
    expect(effectiveExpiryUntil(NOW, NOW + HOUR)).toBe(NOW + 30 * MINUTE);
    expect(effectiveExpiryUntil(new Date(NOW), new Date(NOW + 10 * MINUTE))).toBe(NOW + 5 * MINUTE);
    expect(effectiveExpiryUntil(NOW, NOW - HOUR)).toBe(NOW);
  });
});

describe('parseDuration', () => {
  it.each([
    ['PT3599S', 3599_000],
    ['PT0S', 0],
    ['PT0.5S', 500],
    ['PT1,25S', 1250],
    ['PT1M', MINUTE],
    ['PT2H', 2 * HOUR],
    ['P2D', 2 * DAY],
    ['P1DT2H', DAY + 2 * HOUR],
    ['P1DT2H3M4.5S', DAY + 2 * HOUR + 3 * MINUTE + 4500],
    ['P1W', 7 * DAY],
    ['P1Y', 365 * DAY],
    ['P1M', 30 * DAY],
    ['P1MT1M', 30 * DAY + MINUTE],
    ['PT1.5H', 1.5 * HOUR],
    ['PT36H', 36 * HOUR],
    ['pt10s', 10_000],
    ['-PT5S', -5000],
  ])('reads the ISO-8601 duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['23:59:59', DAY - 1000],
    ['00:00:30', 30_000],
    ['1.02:03:04.5000000', DAY + 2 * HOUR + 3 * MINUTE + 4500],
    ['1.02:03:04', DAY + 2 * HOUR + 3 * MINUTE + 4000],
    ['00:00:00.001', 1],
    ['0:5:7', 5 * MINUTE + 7000],
    ['365.00:00:00', 365 * DAY],
    ['-00:00:05', -5000],
  ])('reads the .NET TimeSpan %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('keeps sub-millisecond precision of .NET ticks', () => {
    expect(parseDuration('00:00:00.0000001')).toBeCloseTo(0.0001, 10);
  });

  it('rejects anything else with PROTOCOL', () => {
    const bad = [
      '',
      'P',
      'PT',
      'P1DT',
      'T1H',
      '1H',
      'PT1.5H30M',
      'P1.5DT2H',
      'PT-5S',
      'PT5',
      'P5S',
      'PT1S2M',
      'PT.5S',
      'PT5.S',
      ' PT5S',
      'PT5S ',
      '24:00:00',
      '00:60:00',
      '00:00:60',
      '00:00',
      '1:00:00:00',
      '00:00:00.12345678',
      '1.:00:00:00',
      'soon',
      '3600',
      `PT${'9'.repeat(60)}S`,
      `P${'9'.repeat(20)}D`,
    ];
    for (const text of bad) expectProtocolError(() => parseDuration(text));
    for (const value of [undefined, null, 3600, {}]) expectProtocolError(() => parseDuration(value));
  });

  it('names the field but does not quote the value', () => {
    expect(() => parseDuration('secret-looking-value', 'tokenRemainingLifetime')).toThrow(
      /^tokenRemainingLifetime is not/,
    );
    try {
      parseDuration('secret-looking-value');
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-looking-value');
    }
  });
});

describe('parseExpirationTime', () => {
  it('means "does not expire" when absent', () => {
    expect(parseExpirationTime(undefined)).toBeUndefined();
    expect(parseExpirationTime(null)).toBeUndefined();
    expect(parseExpirationTime()).toBeUndefined();
  });

  it.each([
    ['2025-01-15T12:00:00Z', NOW],
    ['2025-01-15T12:00:00.000Z', NOW],
    ['2025-01-15T12:00:00.1234567Z', NOW + 123],
    ['2025-01-15T12:00:00.9999999+00:00', NOW + 999],
    ['2025-01-15T14:00:00+02:00', NOW],
    ['2025-01-15T07:30:00-04:30', NOW],
    ['2025-01-15T14:00:00+0200', NOW],
    ['2025-01-15T12:00Z', NOW],
    ['2025-01-15t12:00:00z', NOW],
    ['2025-01-15 12:00:00Z', NOW],
    ['2025-01-15T12:00:00', NOW],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['0050-06-01T00:00:00Z', Date.parse('0050-06-01T00:00:00Z')],
  ])('reads %s', (text, ms) => {
    expect(parseExpirationTime(text)).toBe(ms);
  });

  it('matches Date.parse on what both understand', () => {
    const now = new Date();
    expect(parseExpirationTime(now.toISOString())).toBe(now.getTime());
  });

  it('rejects non-ISO or impossible timestamps with PROTOCOL', () => {
    const bad = [
      '',
      'tomorrow',
      'January 15, 2025',
      '2025-01-15',
      '2025-1-15T12:00:00Z',
      '2025-13-01T00:00:00Z',
      '2025-00-01T00:00:00Z',
      '2025-04-31T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2025-01-00T00:00:00Z',
      '2025-01-15T24:00:00Z',
      '2025-01-15T12:60:00Z',
      '2025-01-15T12:00:60Z',
      '2025-01-15T12:00:00+25:00',
      '2025-01-15T12:00:00+02:70',
      '2025-01-15T12:00:00ZZ',
      '1736942400000',
    ];
    for (const text of bad) expectProtocolError(() => parseExpirationTime(text));
    for (const value of [1736942400000, {}, true]) expectProtocolError(() => parseExpirationTime(value));
  });

  it('names the field in the message', () => {
    expect(() => parseExpirationTime('x', 'connectionStringExpiration')).toThrow(
      /^connectionStringExpiration/,
    );
  });
});

describe("parseHttpDate (the platform's time from a Date header)", () => {
  it('reads an IMF-fixdate', () => {
    expect(parseHttpDate('Wed, 15 Jan 2025 12:00:00 GMT')).toBe(Date.UTC(2025, 0, 15, 12));
    expect(parseHttpDate('Thu, 29 Feb 2024 23:59:59 GMT')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(parseHttpDate(new Date(Date.UTC(2031, 6, 4, 1, 2, 3)).toUTCString())).toBe(
      Date.UTC(2031, 6, 4, 1, 2, 3),
    );
  });

  it('gives undefined (the caller falls back) for a missing, garbled or implausible header', () => {
    const bad = [
      null,
      undefined,
      '',
      'yesterday',
      'Tue, 99 Foo 20x5 25:61:61 GMT',
      'Wed, 15 Jan 2025 12:00:00 UTC',
      'Wed, 15 Jan 2025 12:00:00',
      '2025-01-15T12:00:00Z',
      'Wednesday, 15-Jan-25 12:00:00 GMT',
      'Wed Jan 15 12:00:00 2025',
      'Mon, 31 Apr 2025 12:00:00 GMT',
      'Fri, 29 Feb 2025 12:00:00 GMT',
      'Wed, 15 Jan 2025 24:00:00 GMT',
      'Wed, 15 Jan 2025 12:60:00 GMT',
      'Thu, 01 Jan 1970 00:00:00 GMT',
      `Wed, 15 Jan 2025 12:00:00 GMT${' '.repeat(100)}x`,
    ];
    for (const text of bad) expect(parseHttpDate(text), String(text)).toBeUndefined();
  });
});
