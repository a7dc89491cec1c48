/**
 * The `Compressor` port in browsers: Brotli from WebAssembly (`brotli-wasm`, about 1 MB of wasm), which browsers
 * lack natively (`CompressionStream` has no Brotli). Loaded by the first `compress()` call only, as a separate
 * chunk, so a device that never compresses never downloads it.
 */
import { SpotflowError } from '../../src/errors.js';
import type { CompressionLevel, Compressor } from '../../src/ports.js';

type Brotli = Awaited<typeof import('brotli-wasm')['default']>;

const QUALITY: Record<CompressionLevel, number> = { fastest: 1, smallest: 11 };

/**
 * @example
 * const compressed = await createBrowserCompressor().compress(bytes, 'smallest');
 */
export function createBrowserCompressor(): Compressor {
  let loading: Promise<Brotli> | undefined;
  const load = (): Promise<Brotli> => {
    loading ??= import('brotli-wasm')
      .then((module) => module.default)
      .catch((error: unknown) => {
        // NETWORK: most often the chunk or its wasm failed to download. Forget the failure, so a later call tries
        // again.
        loading = undefined;
        throw new SpotflowError('NETWORK', 'Cannot load the Brotli compressor (package brotli-wasm)', {
          cause: error,
        });
      });
    return loading;
  };
  return {
    async compress(data: Uint8Array, level: CompressionLevel): Promise<Uint8Array> {
      const quality = QUALITY[level];
      // The core validates options at the call; an unknown level reaching here is a bug.
      if (quality === undefined)
        throw new SpotflowError('INTERNAL', `Unknown compression level ${String(level)}`);
      const brotli = await load();
      return brotli.compress(data, { quality });
    },
  };
}
