/**
 * `fetch` on Deno. An extra CA goes through an HTTP client of Deno's own (`Deno.createHttpClient({ caCerts })`, the
 * CA added to the roots Deno trusts), passed with each request: Node's way, the undici package's Agent, relies on
 * Node internals Deno does not promise. Verification stays on either way.
 *
 * Deno's `fetch` says why a certificate was refused in words only (`invalid peer certificate: UnknownIssuer`), and
 * the core tells a certificate failure (`TLS`, not retried) from a network one by structured codes. So when an
 * https request fails, one TLS handshake to the same host through `node:tls`, which reports OpenSSL's verification
 * codes, says whether it was the certificate; its error becomes the cause.
 */
import { connect } from 'node:tls';
import { trustedCertificates } from '../node/http.js';
import type { PlatformFetch } from '../node/server-platform.js';

/** The part of Deno's global this module uses (declared here: the package does not type-check against Deno's). */
interface DenoHttp {
  createHttpClient(options: { caCerts: string[] }): { close(): void };
}

/** How long the handshake that explains a failure may take. */
const PROBE_TIMEOUT_MS = 5_000;

export function createDenoFetch(ca: string | undefined): PlatformFetch {
  const deno = (globalThis as unknown as { Deno: DenoHttp }).Deno;
  const client = ca === undefined ? undefined : deno.createHttpClient({ caCerts: [ca] });
  const denoFetch = async (input: string | URL | Request, init?: RequestInit) => {
    try {
      return await globalThis.fetch(
        input,
        client === undefined ? init : ({ ...init, client } as RequestInit),
      );
    } catch (error) {
      throw await explained(error, input, ca);
    }
  };
  const close = async () => client?.close();
  return Object.assign(denoFetch as typeof fetch, { close });
}

/** `error` with the handshake's certificate error as its cause, when that is why an https request failed. */
async function explained(
  error: unknown,
  input: string | URL | Request,
  ca: string | undefined,
): Promise<unknown> {
  // Deno's network failures are TypeErrors; an abort or a timeout is not explained by a certificate.
  if (!(error instanceof TypeError)) return error;
  const url = new URL(input instanceof Request ? input.url : input);
  if (url.protocol !== 'https:') return error;
  const refusal = await handshakeRefusal(url, ca);
  return refusal === undefined ? error : new TypeError(error.message, { cause: refusal });
}

/** The handshake's error when it carries a code (a refused certificate does), else undefined. */
function handshakeRefusal(url: URL, ca: string | undefined): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = connect({
      host,
      port: Number(url.port || 443),
      // SNI takes a name only.
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      ...(ca === undefined ? {} : { ca: trustedCertificates(ca) }),
      rejectUnauthorized: true,
    });
    const done = (refusal?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(refusal);
    };
    const timer = setTimeout(() => done(), PROBE_TIMEOUT_MS);
    socket.once('secureConnect', () => done());
    socket.once('error', (error: Error & { code?: unknown }) =>
      done(typeof error.code === 'string' ? error : undefined),
    );
  });
}
