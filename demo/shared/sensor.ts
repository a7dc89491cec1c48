/**
 * The demos' simulated machine sensor (temperature and humidity as a random walk) and the timer that samples it.
 * No platform code: the kiosk (browser) and the Node sample device both use it.
 */

/** The stream the demos send readings to. */
export const readingsStream = 'readings';

export interface Reading {
  /** °C, two decimals. */
  temperature: number;
  /** % relative humidity, one decimal. */
  humidity: number;
  /** ISO 8601 time of the sample. */
  at: string;
}

export class SimulatedSensor {
  #temperature = 21.5;
  #humidity = 45;

  constructor(private readonly random: () => number = Math.random) {}

  /** The next reading: a small step from the last one, pulled gently back towards a comfortable room. */
  read(now = new Date()): Reading {
    this.#temperature = walk(this.#temperature, 0.15, 21.5, 15, 35, this.random);
    this.#humidity = walk(this.#humidity, 0.6, 45, 20, 80, this.random);
    return {
      temperature: Math.round(this.#temperature * 100) / 100,
      humidity: Math.round(this.#humidity * 10) / 10,
      at: now.toISOString(),
    };
  }
}

function walk(value: number, step: number, centre: number, min: number, max: number, random: () => number) {
  const next = value + (random() * 2 - 1) * step + (centre - value) * 0.01;
  return Math.min(max, Math.max(min, next));
}

/** Calls `sample` every `intervalMs`; a new interval applies at once (the next sample is one new interval away). */
export class Sampler {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #intervalMs: number;
  #running = false;

  constructor(
    intervalMs: number,
    private readonly sample: () => void,
  ) {
    this.#intervalMs = intervalMs;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  start(): void {
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  setInterval(intervalMs: number): void {
    if (intervalMs === this.#intervalMs) return;
    this.#intervalMs = intervalMs;
    if (this.#running) this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.#running) return;
      this.#schedule();
      this.sample();
    }, this.#intervalMs);
  }
}
