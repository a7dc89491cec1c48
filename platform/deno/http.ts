/**
 * `fetch` on Deno trusting an extra CA: an HTTP client of Deno's own (`Deno.createHttpClient({ caCerts })`, the CA
 * added to the roots Deno trusts) passed with each request. Node's way, the undici package's Agent, relies on Node's
 * internals that Deno does not promise. Verification stays on either way.
 */
import type { PlatformFetch } from '../node/server-platform.js';

/** The part of Deno's global this module uses (declared here: the package does not type-check against Deno's). */
interface DenoHttp {
  createHttpClient(options: { caCerts: string[] }): { close(): void };
}

export function createDenoFetch(ca: string | undefined): PlatformFetch {
  if (ca === undefined) return globalThis.fetch;
  const deno = (globalThis as unknown as { Deno: DenoHttp }).Deno;
  const client = deno.createHttpClient({ caCerts: [ca] });
  const denoFetch = (input: string | URL | Request, init?: RequestInit) =>
    globalThis.fetch(input, { ...init, client } as RequestInit);
  return Object.assign(denoFetch as typeof fetch, {
    close: async () => client.close(),
  });
}
