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

// Counts the workers pages start and end (the real Worker underneath), to see the idle compressor end its own.
const workers = { started: 0, ended: 0 };
globalThis.__workers = workers;
globalThis.Worker = class CountedWorker extends Worker {
  constructor(url: string | URL, options?: WorkerOptions) {
    super(url, options);
    workers.started++;
  }
  override terminate(): void {
    workers.ended++;
    super.terminate();
  }
};

const compressor = createBrowserCompressor();
const quicklyIdle = createBrowserCompressor({ idleMs: 100 });

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
globalThis.__compressQuicklyIdle = async (level) =>
  (await quicklyIdle.compress(new TextEncoder().encode('hello hello hello hello'), level)).byteLength;

markReady();
