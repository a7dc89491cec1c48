/**
 * The compression worker: Brotli at quality 11 runs at well under 1 MB/s, so a 250 KB message would hold the page's
 * main thread for hundreds of milliseconds. Here it holds only this worker. The page creates this worker on its
 * first compression, so brotli-wasm (imported statically: one chunk, whatever the bundler's worker format) is
 * fetched only then. A failed load is reported as NETWORK, after which the page replaces this worker.
 */
import './compression-fetches.js';
import type { BrotliWasmType } from 'brotli-wasm';
import * as brotliWasm from 'brotli-wasm';
import { SpotflowError } from '../../src/errors.js';
import { lastFetch } from './compression-fetches.js';
import type { CompressionRequest } from './compression-protocol.js';
import { serveRequests, type WorkerReply } from './worker-rpc.js';

// The package's default export is the promise of the loaded module (its types, written for CommonJS, make the default
// import the whole module instead).
const loading = (brotliWasm as unknown as { default: Promise<BrotliWasmType> }).default;
const brotli = loading.catch((error: unknown) => {
  throw new SpotflowError(
    'NETWORK',
    `Cannot load the Brotli compressor (package brotli-wasm)${lastFetch()}`,
    {
      cause: error,
    },
  );
});
// Reported to the request that awaits it, not as an unhandled rejection of the worker.
brotli.catch(() => {});

serveRequests(compress, 'The compression worker failed');

async function compress(request: CompressionRequest): Promise<WorkerReply> {
  const compressed = (await brotli).compress(request.data, { quality: request.quality });
  // A fresh copy out of the wasm memory: hand it over rather than copy it again.
  return { value: compressed, transfer: [compressed.buffer] };
}
