// Compression is an optimisation and must never stop delivery: while the compressor fails (a browser's Brotli wasm
// that cannot be downloaded), messages that asked for compression go uncompressed, in order with the others; the
// failure is reported once, and the compressor is tried again after a delay, not by every message. The test's
// clock decides when that delay has passed.
import { describe, expect, it } from 'vitest';
import { createNodeCompressor } from '../../platform/node/compression.js';
import { createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import { SpotflowError } from '../../src/errors.js';
import type { Compressor } from '../../src/ports.js';
import { memoryLogger } from '../helpers/client.js';
import { StillClock } from '../helpers/clock.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-compression-fallback-');

/** The Node compressor, failing as a browser's does when its wasm answers 404 while `failing` is set. */
function switchableCompressor(): Compressor & { failing: boolean; calls: number } {
  const real = createNodeCompressor();
  const compressor = {
    failing: true,
    calls: 0,
    compress(data: Uint8Array, level: 'fastest' | 'smallest') {
      compressor.calls++;
      if (compressor.failing) {
        return Promise.reject(
          new SpotflowError(
            'NETWORK',
            'Cannot load the Brotli compressor from http://panel.test/brotli.wasm (HTTP 404)',
          ),
        );
      }
      return real.compress(data, level);
    },
  };
  return compressor;
}

const reading = (n: number) => ({
  n,
  samples: Array.from({ length: 200 }, (_, i) => ({ sensor: 'line-1', i })),
});

describe('a compressor that cannot load', () => {
  it('holds nothing up: compressed and plain messages all arrive in order, one error, retried later', async () => {
    const clock = new StillClock();
    const compressor = switchableCompressor();
    const errors: SpotflowError[] = [];
    const deviceId = 'no-brotli';
    const device = await DeviceClient.startOn(
      { ...createNodePlatform({ ca: bed.emulator.ca }), clock, compressor },
      {
        provisioningToken: bed.emulator.provisioningToken,
        instance: bed.emulator.instance,
        database: bed.dirs.file('fallback.db'),
        deviceId,
        logger: memoryLogger(),
        onProvisioningOperation: () => {},
        reconnectInitialDelayMs: 50,
        reconnectMaxDelayMs: 500,
      },
    );
    try {
      device.on('error', (error) => errors.push(error));
      const levels = ['smallest', 'none', 'fastest', 'smallest', 'none', 'smallest'] as const;
      const ids: string[] = [];
      for (const [n, compression] of levels.entries()) {
        ids.push((await device.enqueueMessage(reading(n), { stream: 'fallback', compression })).id);
      }
      await device.waitEnqueuedMessagesSent();
      const first = await bed.emulator.api.allMessages(deviceId);
      expect(first.map((m) => m.mid)).toEqual(ids);
      for (const [n, message] of first.entries()) {
        expect(JSON.parse(Buffer.from(message.payloadBase64, 'base64').toString('utf8'))).toEqual(reading(n));
        expect(message.properties['content-encoding']).toBeUndefined();
      }
      // Tried by the first message that asked, not by the others while the failure is recent; reported once,
      // naming the URL that failed.
      expect(compressor.calls).toBe(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'NETWORK' });
      expect(errors[0]!.message).toContain('http://panel.test/brotli.wasm (HTTP 404)');
      expect(errors[0]!.message).toContain('sent uncompressed');

      // Loadable again and the retry delay (at most 10 s the first time) passed: the next message is compressed.
      compressor.failing = false;
      await clock.advance(10_000);
      const { id } = await device.enqueueMessage(reading(6), { stream: 'fallback', compression: 'smallest' });
      await device.waitEnqueuedMessagesSent();
      const last = (await bed.emulator.api.allMessages(deviceId)).at(-1);
      expect(last).toMatchObject({ mid: id, properties: { 'content-encoding': 'br' } });
      expect(JSON.parse(Buffer.from(last.payloadBase64, 'base64').toString('utf8'))).toEqual(reading(6));
      expect(compressor.calls).toBe(2);
      expect(errors).toHaveLength(1);
    } finally {
      await device.close();
    }
  });
});
