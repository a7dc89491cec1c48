import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createNodeCompressor } from '../../platform/node/compression.js';
import { type CompressionContractContext, compressionContract } from './compression-contract.js';

const decompress = promisify(brotliDecompress);

const ctx: CompressionContractContext = {
  compressor: createNodeCompressor(),
  decompress: async (compressed) => new Uint8Array(await decompress(compressed)),
};

describe('Compressor contract (zlib Brotli)', () => {
  it.each(compressionContract)('$name', ({ run }) => run(ctx));
});

describe('Node compressor', () => {
  it('refuses an unknown level as INTERNAL (the core validates levels at the call)', async () => {
    await expect(ctx.compressor.compress(new Uint8Array(1), 'best' as never)).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });
});
