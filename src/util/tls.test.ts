import { describe, expect, it } from 'vitest';
import { tlsError, tlsVerificationCode } from './tls.js';

const withCode = (code: string, cause?: unknown) =>
  Object.assign(new Error('x'), { code }, cause ? { cause } : {});

describe('tlsVerificationCode', () => {
  it.each([
    {
      name: 'fetch failed, self-signed CA on its cause',
      error: new TypeError('fetch failed', { cause: withCode('SELF_SIGNED_CERT_IN_CHAIN') }),
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    },
    {
      name: 'unknown issuer, on the error itself',
      error: withCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    },
    {
      name: 'wrong host name, two causes down',
      error: new Error('a', { cause: new Error('b', { cause: withCode('ERR_TLS_CERT_ALTNAME_INVALID') }) }),
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    },
    { name: 'expired certificate', error: withCode('CERT_HAS_EXPIRED'), code: 'CERT_HAS_EXPIRED' },
    {
      name: 'connection refused is a network failure',
      error: new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') }),
      code: undefined,
    },
    {
      name: 'a TLS word in the message alone is not enough',
      error: new Error('SELF_SIGNED_CERT_IN_CHAIN'),
      code: undefined,
    },
    { name: 'not an object', error: 'SELF_SIGNED_CERT_IN_CHAIN', code: undefined },
  ])('$name', ({ error, code }) => {
    expect(tlsVerificationCode(error)).toBe(code);
  });

  it('stops following causes after a few levels (a cause cycle ends)', () => {
    const a: { cause?: unknown } = {};
    a.cause = a;
    expect(tlsVerificationCode(a)).toBeUndefined();
  });
});

describe('tlsError', () => {
  it('is TLS, names the host and the code, and says what to do', () => {
    const error = tlsError('platform.example.com:443', 'SELF_SIGNED_CERT_IN_CHAIN');
    expect(error.code).toBe('TLS');
    expect(error.message).toMatch(/platform\.example\.com:443.*SELF_SIGNED_CERT_IN_CHAIN.*not retried.*`ca`/);
  });
});
