/**
 * The demos' simulated machine sensor: temperature and humidity drifting in a random walk within plausible bounds,
 * and the rule for the sampling interval a technician sets through the device twin. No platform code: the kiosk
 * (browser) and the Node sample device both use it.
 */

export interface Reading {
  temperature: number;
  humidity: number;
  /** ISO time of the reading. */
  at: string;
}

/** The stream the demos send readings to. */
export const readingsStream = 'readings';

/** The sampling interval when the twin sets none, and the range a desired value must be in. */
export const defaultSamplingIntervalMs = 1000;
const minIntervalMs = 100;
const maxIntervalMs = 60_000;

/** A random walk: each reading moves a little from the last one. `random` is injectable for tests. */
export function createSensor(random: () => number = Math.random): () => Reading {
  let temperature = 21 + random() * 2;
  let humidity = 40 + random() * 10;
  return () => {
    temperature = clamp(temperature + (random() - 0.5) * 0.4, 15, 30);
    humidity = clamp(humidity + (random() - 0.5) * 1.0, 20, 80);
    return { temperature: round(temperature), humidity: round(humidity), at: new Date().toISOString() };
  };
}

/**
 * The desired `samplingIntervalMs`, checked: a whole number of ms in [100, 60000]. Returns the interval to apply,
 * or an error text to report (the device keeps its current interval then). `undefined` means not set.
 */
export function samplingIntervalFrom(
  desired: Record<string, unknown>,
): { ms: number } | { error: string } | undefined {
  const value = desired.samplingIntervalMs;
  if (value === undefined || value === null) return undefined;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < minIntervalMs ||
    value > maxIntervalMs
  ) {
    return { error: `samplingIntervalMs must be a whole number from ${minIntervalMs} to ${maxIntervalMs}` };
  }
  return { ms: value };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
