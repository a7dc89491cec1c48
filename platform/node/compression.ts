/** The `Compressor` port over Node's zlib Brotli, off the main thread (zlib's async API runs in the thread pool). */
import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';
import { SpotflowError } from '../../src/errors.js';
import type { CompressionLevel, Compressor } from '../../src/ports.js';

const compressAsync = promisify(brotliCompress);

const QUALITY: Record<CompressionLevel, number> = {
  fastest: 1,
  smallest: constants.BROTLI_MAX_QUALITY, // 11
};

/**
 * @example
 * const compressed = await createNodeCompressor().compress(bytes, 'fastest');
 */
export function createNodeCompressor(): Compressor {
  return {
    async compress(data: Uint8Array, level: CompressionLevel): Promise<Uint8Array> {
      const quality = QUALITY[level];
      // The core validates options at the call; an unknown level reaching here is a bug.
      if (quality === undefined)
        throw new SpotflowError('INTERNAL', `Unknown compression level ${String(level)}`);
      return compressAsync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: quality,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.byteLength,
        },
      });
    },
  };
}
