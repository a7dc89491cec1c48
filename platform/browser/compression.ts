/**
 * The `Compressor` port in browsers: Brotli from WebAssembly (`brotli-wasm`, about 1 MB of wasm), which browsers
 * lack natively (`CompressionStream` has no Brotli). It runs in a worker of its own, so compressing a large message
 * never blocks the page. The worker, and with it brotli-wasm, is fetched by the first `compress()` call only, so a
 * device that never compresses never downloads it. An idle worker is ended: Brotli at quality 11 grows its wasm
 * memory by about 50 MB, which a WebAssembly memory never gives back, and a kiosk has little to spare.
 */
import { SpotflowError } from '../../src/errors.js';
import type { CompressionLevel, Compressor } from '../../src/ports.js';
import type { CompressionRequest } from './compression-protocol.js';
import { WorkerConnection } from './worker-rpc.js';

const QUALITY: Record<CompressionLevel, number> = { fastest: 1, smallest: 11 };

/** Options of {@link createBrowserCompressor}. */
export interface BrowserCompressorOptions {
  /** How long the worker may sit idle before it is ended (a later call starts another). Default 30 s. */
  idleMs?: number;
}

/**
 * @example
 * const compressed = await createBrowserCompressor().compress(bytes, 'smallest');
 */
export function createBrowserCompressor(options: BrowserCompressorOptions = {}): Compressor {
  const idleMs = options.idleMs ?? 30_000;
  let worker: WorkerConnection<CompressionRequest> | undefined;
  let running = 0;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const endWhenIdle = () => {
    clearTimeout(idleTimer);
    if (running > 0 || worker === undefined) return;
    const idle = worker;
    idleTimer = setTimeout(() => {
      if (worker === idle && running === 0) {
        idle.terminate(unavailable('ended while idle'));
        worker = undefined;
      }
    }, idleMs);
  };
  return {
    async compress(data: Uint8Array, level: CompressionLevel): Promise<Uint8Array> {
      const quality = QUALITY[level];
      // The core validates options at the call; an unknown level reaching here is a bug.
      if (quality === undefined)
        throw new SpotflowError('INTERNAL', `Unknown compression level ${String(level)}`);
      clearTimeout(idleTimer);
      if (worker === undefined || worker.failed) worker = startWorker();
      const current = worker;
      running++;
      try {
        // Copied, not transferred: the caller keeps its bytes.
        return (await current.call({ quality, data })) as Uint8Array;
      } catch (error) {
        // Most often the worker's script, brotli-wasm's chunk or its wasm failed to download: a later call starts
        // a fresh worker that fetches them again.
        if (current === worker) {
          current.terminate(unavailable());
          worker = undefined;
        }
        throw error;
      } finally {
        running--;
        endWhenIdle();
      }
    },
  };
}

function startWorker(): WorkerConnection<CompressionRequest> {
  const worker = new Worker(new URL('./compression-worker.js', import.meta.url), {
    type: 'module',
    name: 'spotflow-device-compression',
  });
  return new WorkerConnection<CompressionRequest>(worker, (detail) =>
    unavailable(`its worker's script failed to load or run: ${detail}`),
  );
}

function unavailable(detail?: string): SpotflowError {
  const suffix = detail === undefined ? '' : ` (${detail})`;
  return new SpotflowError('NETWORK', `Cannot load the Brotli compressor (package brotli-wasm)${suffix}`);
}
