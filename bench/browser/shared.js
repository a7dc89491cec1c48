// The page of the `browser-shared` case: one tab of a shared device (`DeviceClient.start({ shared: true })`), the SDK
// imported by its package name. The Node side (bench/cases/browser-shared.mjs) opens several of these tabs on one
// origin and drives each through `globalThis.bench` with page.evaluate. Times that the Node side compares with its
// own are `Date.now()` (the same system clock in every process); durations inside one page are `performance.now()`.
import { DeviceClient } from 'spotflow-device';

const state = {
  client: undefined,
  startError: undefined,
  /** `Date.now()` of each `connected` event this tab heard (its own client's when it owns the device). */
  connectedAt: [],
  /** The running enqueue loop's `Date.now()` at each resolved enqueue, and its first error. */
  loop: { running: false, resolvedAt: [], error: undefined, done: undefined },
  /** What the owner-lock watch saw (see `watchOwnerLock`). */
  watch: { running: false, first: undefined, releasedAt: undefined, grantedAt: undefined, done: undefined },
};

async function start(options) {
  state.client = undefined;
  state.startError = undefined;
  try {
    const client = await DeviceClient.start({
      ...options,
      shared: true,
      logger: { debug() {}, info() {}, warn() {}, error: console.error },
      onProvisioningOperation() {},
    });
    client.on('connected', () => state.connectedAt.push(Date.now()));
    state.client = client;
  } catch (error) {
    state.startError = `${error.code}: ${error.message}`;
    throw error;
  }
}

/** Latencies (ms) of `count` enqueues of `size` bytes one after another: p50 and p99. */
async function latencies(count, size) {
  const payload = new Uint8Array(size).fill(7);
  const times = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await state.client.enqueueMessage(payload, { stream: 'latency' });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * `count` enqueues of `size` bytes by `callers` concurrent callers. Returns when they began and ended
 * (`Date.now()`, so that the Node side can put several tabs' bursts on one time line) and the tab's own msg/s.
 */
async function enqueueRate(count, callers, size) {
  const payload = new Uint8Array(size).fill(1);
  let next = 0;
  const began = Date.now();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        next++;
        await state.client.enqueueMessage(payload, { stream: 'bench' });
      }
    }),
  );
  const ms = performance.now() - started;
  return { began, ended: Date.now(), rate: count / (ms / 1000) };
}

/** Enqueues `size` bytes one after another, each awaited, until `stopLoop`; records when each resolved. */
function startLoop(size) {
  const loop = { running: true, resolvedAt: [], error: undefined, done: undefined };
  state.loop = loop;
  const payload = new Uint8Array(size).fill(3);
  loop.done = (async () => {
    while (loop.running) {
      try {
        await state.client.enqueueMessage(payload, { stream: 'takeover' });
        loop.resolvedAt.push(Date.now());
      } catch (error) {
        loop.error = `${error.code}: ${error.message}`;
        return;
      }
    }
  })();
}

/** Stops the loop once its enqueue in flight resolved; returns what it recorded. */
async function stopLoop() {
  const loop = state.loop;
  loop.running = false;
  await loop.done;
  return { resolvedAt: loop.resolvedAt, error: loop.error };
}

/**
 * Watches who holds the database's Web Lock (the one that elects the owner: `spotflow-device:<database>`) with
 * `navigator.locks.query()` every 5 ms: `releasedAt`, the first look at which the holder seen first no longer held it;
 * `grantedAt`, the first at which another context did. Each is late by up to one look (5 ms plus the query).
 */
function watchOwnerLock(database) {
  const name = `spotflow-device:${database}`;
  const watch = {
    running: true,
    first: undefined,
    releasedAt: undefined,
    grantedAt: undefined,
    done: undefined,
  };
  state.watch = watch;
  const holder = async () =>
    (await navigator.locks.query()).held?.find((lock) => lock.name === name)?.clientId ?? null;
  let ready;
  const looked = new Promise((resolve) => {
    ready = resolve;
  });
  watch.done = (async () => {
    watch.first = await holder();
    ready();
    while (watch.running && watch.grantedAt === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const now = await holder();
      const at = Date.now();
      if (now !== watch.first) {
        watch.releasedAt ??= at;
        if (now !== null) watch.grantedAt = at;
      }
    }
  })();
  return looked.then(() => watch.first !== null);
}

async function stopWatch() {
  const watch = state.watch;
  watch.running = false;
  await watch.done;
  return { releasedAt: watch.releasedAt ?? null, grantedAt: watch.grantedAt ?? null };
}

globalThis.bench = {
  state,
  start,
  latencies,
  enqueueRate,
  startLoop,
  stopLoop,
  watchOwnerLock,
  stopWatch,
};
globalThis.benchReady = true;
