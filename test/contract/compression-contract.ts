/**
 * The contract of the `Compressor` port (src/ports.ts), for every adapter: zlib in Node, brotli-wasm in browsers.
 * Framework-free: each case throws on failure. The runner supplies an independent Brotli decoder (Node's zlib).
 */
import type { Compressor } from '../../src/ports.js';
import { bytesEqual, equal, ok } from './assert.js';
import type { ContractCase } from './database-contract.js';

export interface CompressionContractContext {
  compressor: Compressor;
  /** Decodes Brotli with another implementation than the adapter's. */
  decompress(compressed: Uint8Array): Promise<Uint8Array>;
}

/** Text-like data with structure for the compressor to find, but not one repeated string. */
export function telemetry(records: number): Uint8Array {
  const lines = Array.from({ length: records }, (_, i) =>
    JSON.stringify({ seq: i, temperature: 20 + ((i * 7) % 13) / 10, status: i % 5 === 0 ? 'warn' : 'ok' }),
  );
  return new TextEncoder().encode(lines.join('\n'));
}

/** Bytes no compressor can shrink (a fixed xorshift sequence, so failures reproduce). */
function noise(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function roundTrip(ctx: CompressionContractContext, data: Uint8Array, level: 'fastest' | 'smallest') {
  const compressed = await ctx.compressor.compress(data, level);
  ok(compressed instanceof Uint8Array, `compress(${level}) returns a Uint8Array`);
  bytesEqual(await ctx.decompress(compressed), data, `the ${level} output decodes to the input`);
  return compressed;
}

export const compressionContract: ContractCase<CompressionContractContext>[] = [
  ...(['fastest', 'smallest'] as const).map((level) => ({
    name: `round-trips through an independent Brotli decoder (${level})`,
    async run(ctx: CompressionContractContext) {
      const data = telemetry(2_000);
      const compressed = await roundTrip(ctx, data, level);
      ok(compressed.byteLength < data.byteLength / 4, `${level} shrinks telemetry at least 4×`);
    },
  })),
  {
    name: 'makes output no larger with smallest than with fastest',
    async run(ctx) {
      const data = telemetry(5_000);
      const fastest = await roundTrip(ctx, data, 'fastest');
      const smallest = await roundTrip(ctx, data, 'smallest');
      ok(
        smallest.byteLength <= fastest.byteLength,
        `smallest (${smallest.byteLength} B) is no larger than fastest (${fastest.byteLength} B)`,
      );
    },
  },
  {
    name: 'compresses empty input to a valid empty stream',
    async run(ctx) {
      await roundTrip(ctx, new Uint8Array(0), 'fastest');
      await roundTrip(ctx, new Uint8Array(0), 'smallest');
    },
  },
  {
    name: 'round-trips incompressible input',
    async run(ctx) {
      const data = noise(16_384);
      await roundTrip(ctx, data, 'fastest');
      await roundTrip(ctx, data, 'smallest');
    },
  },
  {
    name: 'round-trips 1 MiB at both levels',
    async run(ctx) {
      const data = telemetry(30_000).subarray(0, 1 << 20);
      equal(data.byteLength, 1 << 20, 'input size');
      await roundTrip(ctx, data, 'fastest');
      await roundTrip(ctx, data, 'smallest');
    },
  },
  {
    name: 'compresses only the bytes of a view into a larger buffer',
    async run(ctx) {
      const backing = new TextEncoder().encode('xxxxhello hello hello hello helloyyyy');
      const view = backing.subarray(4, backing.length - 4);
      for (const level of ['fastest', 'smallest'] as const) {
        const back = await ctx.decompress(await ctx.compressor.compress(view, level));
        equal(new TextDecoder().decode(back), 'hello hello hello hello hello', `the view's bytes (${level})`);
      }
      equal(backing[0], 'x'.charCodeAt(0), 'the input is left unchanged');
    },
  },
  {
    name: 'serves concurrent calls, each with its own result',
    async run(ctx) {
      const inputs = Array.from({ length: 8 }, (_, i) => telemetry(200 + i * 50));
      const outputs = await Promise.all(
        inputs.map((data, i) => ctx.compressor.compress(data, i % 2 === 0 ? 'fastest' : 'smallest')),
      );
      for (const [i, output] of outputs.entries()) {
        bytesEqual(await ctx.decompress(output), inputs[i]!, `concurrent call ${i}`);
      }
    },
  },
];
