// Realistic JSON telemetry for the compression figures: one message is an array of readings as a device batches them
// (timestamps, a few sensors with noisy values, a status that rarely changes), from a seeded generator, so every run
// compresses the same bytes.

/** A JSON message of about `bytes` bytes. */
export function telemetryJson(bytes, seed = 1) {
  let state = seed >>> 0 || 1;
  const random = () => {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const readings = [];
  let size = 2;
  let time = Date.UTC(2026, 10, 1);
  while (size < bytes) {
    time += 1000 + Math.floor(random() * 20);
    const reading = {
      ts: new Date(time).toISOString(),
      device: 'pump-7',
      site: 'plant-3/line-2',
      temperature: Math.round((21 + random() * 4) * 100) / 100,
      humidity: Math.round((40 + random() * 10) * 10) / 10,
      pressure: Math.round((1012 + random() * 6) * 10) / 10,
      rpm: 1450 + Math.floor(random() * 40),
      vibration: [random(), random(), random()].map((v) => Math.round(v * 1000) / 1000),
      status: random() < 0.98 ? 'ok' : 'warning',
    };
    const text = JSON.stringify(reading);
    size += text.length + 1;
    readings.push(reading);
  }
  return JSON.stringify(readings);
}
