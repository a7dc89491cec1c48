/**
 * `fetch` on Bun trusting an extra CA: Bun's own `fetch` takes TLS options per request (`tls: { ca }`). Node's way
 * (the undici package's Agent) does not apply: Bun answers `import('undici')` with its own stand-in, whose Agent
 * options its fetch ignores. Verification stays on either way.
 */
import { trustedCertificates } from '../node/http.js';
import type { PlatformFetch } from '../node/server-platform.js';

export function createBunFetch(ca: string | undefined): PlatformFetch {
  if (ca === undefined) return globalThis.fetch;
  const tls = { ca: trustedCertificates(ca), rejectUnauthorized: true };
  const bunFetch = (input: string | URL | Request, init?: RequestInit) =>
    globalThis.fetch(input, { ...init, tls } as RequestInit);
  return bunFetch as typeof fetch;
}
