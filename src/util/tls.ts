/**
 * Telling a certificate the device cannot verify from a network failure. Retrying does not help with it (an
 * unknown CA, a self-signed or expired certificate, a name that does not match), so it gets its own code, `TLS`,
 * rather than `NETWORK`. Recognised by the structured codes the TLS stack puts on the error or its `cause`
 * (OpenSSL's verification results, as Node reports them), never by message text. Browsers do not say why a
 * connection failed, so there it stays `NETWORK`.
 */
import { SpotflowError } from '../errors.js';

const verificationCodes = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The verification code on `error` or one of its causes, or undefined when it is no certificate failure. */
export function tlsVerificationCode(error: unknown): string | undefined {
  let current = error;
  // A few levels: fetch wraps the socket's error once, ky or an adapter perhaps once more.
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && verificationCodes.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The `TLS` error for `host`, whose certificate failed verification with `code`; `cause` is the TLS stack's error.
 * `retried`: whether the caller tries again anyway (the MQTT session does, at its backoff: a device whose clock is
 * wrong at boot sees a valid certificate as not yet valid until its clock is set).
 */
export function tlsError(
  host: string,
  code: string,
  options: { retried?: boolean; cause?: unknown } = {},
): SpotflowError {
  const what = options.retried ? 'tried again with backoff' : 'not retried';
  return new SpotflowError(
    'TLS',
    `The TLS certificate of ${host} cannot be verified (${code}); this is ${what}. Give the device the CA ` +
      "that signed it (Node: the `ca` option) or fix the server's certificate",
    options.cause === undefined ? undefined : { cause: options.cause },
  );
}
