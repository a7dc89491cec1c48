/**
 * Remembers how the compression worker's last fetch ended, so that a failed load names the URL that failed:
 * brotli-wasm fetches its own WebAssembly, and what it rejects with (a CompileError, a TypeError) does not say
 * from where. Imported by compression-worker.ts before brotli-wasm, whose loading starts as it is evaluated. Only
 * this worker's own `fetch` is wrapped; nothing else runs in it.
 */
let last: { url: string; outcome: string } | undefined;

const fetchOfWorker = globalThis.fetch.bind(globalThis);
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
  const url = input instanceof Request ? input.url : String(input);
  try {
    const response = await fetchOfWorker(input, init);
    last = { url, outcome: response.ok ? 'fetched' : `HTTP ${response.status}` };
    return response;
  } catch (error) {
    last = { url, outcome: error instanceof Error ? error.message : 'failed' };
    throw error;
  }
};

/** `from <url> (<how the fetch ended>)`, or '' before any fetch. */
export function lastFetch(): string {
  return last === undefined ? '' : ` from ${last.url} (${last.outcome})`;
}
