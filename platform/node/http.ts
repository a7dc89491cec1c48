/**
 * `fetch` for the core's HTTP calls (provisioning, registration, file upload). Without a custom CA this is Node's
 * own `fetch`; with one, requests go through the undici package's `fetch` and an `Agent` that trusts the CA as
 * well as the usual roots. TLS verification is on either way. undici is an optional peer dependency (only the `ca`
 * option needs it), loaded on the first request; a missing one fails that request with `DEPENDENCY_MISSING`.
 */
import * as tls from 'node:tls';
import type { Agent } from 'undici';
import { SpotflowError } from '../../src/errors.js';

type Undici = typeof import('undici');

/** Options of {@link createNodeFetch}. */
export interface NodeFetchOptions {
  /** Extra trusted CA certificate(s), PEM, added to the default roots (for private or emulator setups). */
  ca?: string;
}

/**
 * @example
 * const api = ky.create({ prefixUrl: 'https://localhost:5080', fetch: createNodeFetch({ ca }) });
 */
export function createNodeFetch(options: NodeFetchOptions = {}): typeof fetch & {
  /** Closes the connections kept open to trust `ca` (absent when there is none). */
  close?: () => Promise<void>;
} {
  const ca = options.ca;
  if (ca === undefined) return globalThis.fetch;
  let undici: Promise<{ fetch: Undici['fetch']; dispatcher: Agent }> | undefined;
  const connect = () => {
    undici ??= loadUndici().then(
      (module) => ({
        fetch: module.fetch,
        dispatcher: new module.Agent({ connect: { ca: trustedCertificates(ca), rejectUnauthorized: true } }),
      }),
      (error: unknown) => {
        undici = undefined; // installed later: the next request finds it
        throw error;
      },
    );
    return undici;
  };
  const caFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { fetch: undiciFetch, dispatcher } = await connect();
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
  const close = async () => {
    const loaded = await undici?.catch(() => undefined);
    await loaded?.dispatcher.close();
  };
  return Object.assign(caFetch as typeof fetch, { close });
}

function loadUndici(): Promise<Undici> {
  return import('undici').catch((error: unknown) => {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new SpotflowError(
        'DEPENDENCY_MISSING',
        'undici is not installed (the ca option needs it): npm i undici',
        {
          cause: error,
        },
      );
    }
    throw error;
  });
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
