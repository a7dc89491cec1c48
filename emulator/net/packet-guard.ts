import type { Duplex } from 'node:stream';

/**
 * Watches the MQTT packets a client sends and calls `onViolation` as soon as a fixed header announces more than
 * `limit` bytes (or a malformed length), before the body arrives: aedes would otherwise buffer a packet of any size
 * (up to 256 MB) in memory. Only headers are read; bodies are skipped by count, so the cost is tiny.
 */
export function guardMqttPacketSize(
  stream: Duplex,
  limit: number,
  onViolation: (reason: string) => void,
): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let remaining = 0;
  let violated = false;
  stream.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length && !violated) {
      if (state === 'body') {
        const skipped = Math.min(remaining, chunk.length - i);
        i += skipped;
        remaining -= skipped;
        if (remaining === 0) state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (state === 'type') {
        state = 'length';
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (byte & 0x80) {
        if (lengthBytes === 4) {
          violated = true;
          onViolation('malformed remaining length');
        }
        continue;
      }
      if (length > limit) {
        violated = true;
        onViolation(`packet of ${length} bytes exceeds the ${limit}-byte limit`);
        continue;
      }
      remaining = length;
      state = remaining === 0 ? 'type' : 'body';
    }
  });
}
