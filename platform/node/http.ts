/**
 * `fetch` for the core's HTTP calls (provisioning, registration, file upload). Without a custom CA this is Node's
 * own `fetch`; with one, requests go through the undici package's `fetch` and an `Agent` that trusts the CA as
 * well as the usual roots. TLS verification is on either way.
 */
import * as tls from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';

export interface NodeFetchOptions {
  /** Extra trusted CA certificate(s), PEM, added to the default roots (for private or emulator setups). */
  ca?: string;
}

/**
 * @example
 * const api = ky.create({ prefixUrl: 'https://localhost:5080', fetch: createNodeFetch({ ca }) });
 */
export function createNodeFetch(
  options: NodeFetchOptions = {},
): typeof fetch & { close?: () => Promise<void> } {
  if (options.ca === undefined) return globalThis.fetch;
  const dispatcher = new Agent({
    connect: { ca: trustedCertificates(options.ca), rejectUnauthorized: true },
  });
  const caFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    // Node's Request (from its bundled undici) and the undici package's are different classes: pass a plain
    // URL and init rather than a Request object the package would not recognise.
    const { url, requestInit } = input instanceof Request ? await unpackRequest(input) : { url: input };
    const response = await undiciFetch(url as string | URL, {
      ...(requestInit as object),
      ...(init as object),
      dispatcher,
    });
    return response as unknown as Response;
  };
  // The agent's pooled connections are released when the client that owns this fetch closes.
  return Object.assign(caFetch as typeof fetch, { close: () => dispatcher.close() });
}

/** The given CA plus the roots Node trusts by default (a `ca` option replaces them otherwise). */
export function trustedCertificates(ca: string): string[] {
  const defaults = (tls as { getCACertificates?: (type: 'default') => string[] }).getCACertificates;
  // Node 22.15+ can list its effective defaults (NODE_EXTRA_CA_CERTS included); older versions the bundled roots.
  return [...(defaults ? defaults('default') : tls.rootCertificates), ca];
}

async function unpackRequest(request: Request): Promise<{ url: string; requestInit: RequestInit }> {
  const hasBody = request.body !== null && request.method !== 'GET' && request.method !== 'HEAD';
  return {
    url: request.url,
    requestInit: {
      method: request.method,
      headers: [...request.headers],
      // Buffered, so that the request carries a Content-Length (blob storage refuses chunked uploads).
      body: hasBody ? new Uint8Array(await request.arrayBuffer()) : undefined,
      signal: request.signal,
      redirect: request.redirect,
      keepalive: request.keepalive,
    },
  };
}
