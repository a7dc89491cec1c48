import { promisify } from 'node:util';
import { brotliDecompress } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createNodeCompressor } from '../../platform/node/compression.js';

const decompress = promisify(brotliDecompress);
const compressor = createNodeCompressor();

/** Text-like data with structure for the compressor to find, but not one repeated string. */
function telemetry(records: number): Uint8Array {
  const lines = Array.from({ length: records }, (_, i) =>
    JSON.stringify({ seq: i, temperature: 20 + ((i * 7) % 13) / 10, status: i % 5 === 0 ? 'warn' : 'ok' }),
  );
  return new TextEncoder().encode(lines.join('\n'));
}

describe('Node compressor (Brotli)', () => {
  it.each(['fastest', 'smallest'] as const)(
    'round-trips through zlib brotliDecompress (%s)',
    async (level) => {
      const data = telemetry(2_000);
      const compressed = await compressor.compress(data, level);
      expect(compressed).toBeInstanceOf(Uint8Array);
      expect(compressed.byteLength).toBeLessThan(data.byteLength / 4);
      expect(Buffer.from(await decompress(compressed)).equals(Buffer.from(data))).toBe(true);
    },
  );

  it('makes smaller output with smallest than with fastest', async () => {
    const data = telemetry(5_000);
    const fastest = await compressor.compress(data, 'fastest');
    const smallest = await compressor.compress(data, 'smallest');
    expect(smallest.byteLength).toBeLessThan(fastest.byteLength);
  });

  it('handles empty input, incompressible input and a view into a larger buffer', async () => {
    expect(
      Buffer.from(await decompress(await compressor.compress(new Uint8Array(0), 'fastest'))),
    ).toHaveLength(0);
    const random = new Uint8Array(4096).map(() => Math.floor(Math.random() * 256));
    const back = await decompress(await compressor.compress(random, 'smallest'));
    expect(Buffer.from(back).equals(Buffer.from(random))).toBe(true);
    const backing = new TextEncoder().encode('xxxxhello hello hello hello helloyyyy');
    const view = backing.subarray(4, backing.length - 4);
    expect(Buffer.from(await decompress(await compressor.compress(view, 'fastest'))).toString()).toBe(
      'hello hello hello hello hello',
    );
  });

  it('runs concurrently without blocking', async () => {
    const data = telemetry(1_000);
    const results = await Promise.all(Array.from({ length: 8 }, () => compressor.compress(data, 'fastest')));
    for (const result of results)
      expect(Buffer.from(await decompress(result)).equals(Buffer.from(data))).toBe(true);
  });
});
