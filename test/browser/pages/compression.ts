// The Compressor contract (test/contract/compression-contract.ts) against brotli-wasm, decoded by Node's zlib
// through `__brotliDecompress`, which the Node side exposes (page.exposeFunction) before running a case.
import { createBrowserCompressor } from '../../../platform/browser/compression.js';
import { type CompressionContractContext, compressionContract } from '../../contract/compression-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';
import './globals.js';

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(base64: string): Uint8Array {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

const compressor = createBrowserCompressor();

exposeContract<CompressionContractContext>(compressionContract, {
  context: () => ({
    compressor,
    async decompress(compressed) {
      const decode = globalThis.__brotliDecompress;
      if (decode === undefined) throw new Error('the Node side exposed no __brotliDecompress');
      return fromBase64(await decode(toBase64(compressed)));
    },
  }),
});

globalThis.__compress = async (level) =>
  (await compressor.compress(new TextEncoder().encode('hello hello hello hello'), level)).byteLength;

markReady();
