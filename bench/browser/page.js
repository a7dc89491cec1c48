// The benchmark page: the SDK imported by its package name (as a kiosk app does), plus the baseline, in one page.
// The Node side (bench/cases/browser.mjs) drives it through `globalThis.bench` with page.evaluate.
import { createBrowserCompressor, DeviceClient } from 'spotflow-device';

const state = { client: undefined, startError: undefined, sent: 0 };

/** Starts the client (a stored registration, or provisioning with the emulator's auto-approval). */
async function start(options) {
  state.client = undefined;
  state.startError = undefined;
  state.sent = 0;
  try {
    const client = await DeviceClient.start({
      ...options,
      logger: { debug() {}, info() {}, warn() {}, error: console.error },
      onProvisioningOperation() {},
    });
    client.on('messageSent', () => {
      state.sent++;
    });
    state.client = client;
  } catch (error) {
    state.startError = `${error.code}: ${error.message}`;
    throw error;
  }
}

/** `size` bytes: all `1`, or random (`random`: incompressible, as an encrypted or packed reading is). */
function payloadOf(size, random) {
  return random ? crypto.getRandomValues(new Uint8Array(size)) : new Uint8Array(size).fill(1);
}

/** `count` enqueues of `size` bytes by `callers` concurrent callers; returns msg/s. */
async function enqueueRate(count, callers, size, random = false) {
  const same = payloadOf(size, false);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        next++;
        await state.client.enqueueMessage(random ? payloadOf(size, true) : same, { stream: 'bench' });
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Tops the outbox up to `total` pending messages of 256 B (random bytes with `random`). */
async function fill(total, random = false) {
  const pending = await state.client.pendingMessagesCount();
  if (pending < total) await enqueueRate(total - pending, 64, 256, random);
  return state.client.pendingMessagesCount();
}

/** Latencies (ms) of `count` enqueues of 256 B one after another: p50 and p99. */
async function latencies(count) {
  const payload = new Uint8Array(256).fill(7);
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

/** Opens (creating it) the IndexedDB database `name` with one auto-increment store, `messages`. */
function openBaseline(name) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('messages', { autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** One put of `value` in its own `durability: 'strict'` transaction; resolves when the transaction completed. */
function strictPut(db, value) {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction('messages', 'readwrite', { durability: 'strict' });
    transaction.objectStore('messages').put(value);
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

let baselineDb;
/** The baseline: one IndexedDB put per message, each in its own `durability: 'strict'` transaction. */
async function idbRate(count, callers, size) {
  baselineDb ??= await openBaseline('bench-baseline');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        next++;
        await strictPut(baselineDb, new Uint8Array(size).fill(1));
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/**
 * `count` enqueues of `size` bytes (random with `random`), each awaited before the next (a sensor loop); returns
 * the ms taken.
 */
async function enqueueSequential(count, size, random = false) {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    await state.client.enqueueMessage(payloadOf(size, random), { stream: 'sequential' });
  }
  return performance.now() - started;
}

let floorDb;
/**
 * The floor of a durable write per message: `count` IndexedDB puts of `size` bytes (random with `random`), each in
 * its own `durability: 'strict'` transaction, each awaited before the next; returns the ms taken.
 */
async function idbSequential(count, size, random = false) {
  floorDb ??= await openBaseline('bench-floor');
  const started = performance.now();
  for (let i = 0; i < count; i++) await strictPut(floorDb, payloadOf(size, random));
  return performance.now() - started;
}

/** Closes the client (its database waits for every write and fold in flight); the page can `start` it again. */
async function stop() {
  const client = state.client;
  state.client = undefined;
  await client?.close();
}

/** What the origin stores, as the browser counts it (`navigator.storage.estimate()`), bytes. */
async function storageUsage() {
  return (await navigator.storage.estimate()).usage ?? 0;
}

let compressor;
/**
 * Compresses each of `messages` (strings) with the SDK's compressor (`fastest` or `smallest`: Brotli from wasm), or
 * with the browser's own gzip (`gzip`: CompressionStream); returns MB/s and the compression ratio.
 */
async function compressRate(messages, level) {
  const inputs = messages.map((text) => new TextEncoder().encode(text));
  compressor ??= createBrowserCompressor();
  let bytesIn = 0;
  let bytesOut = 0;
  const started = performance.now();
  for (const input of inputs) {
    const output =
      level === 'gzip'
        ? new Uint8Array(
            await new Response(
              new Blob([input]).stream().pipeThrough(new CompressionStream('gzip')),
            ).arrayBuffer(),
          )
        : await compressor.compress(input, level);
    bytesIn += input.length;
    bytesOut += output.length;
  }
  const seconds = (performance.now() - started) / 1000;
  return { mbPerS: bytesIn / 1e6 / seconds, ratio: bytesIn / bytesOut };
}

globalThis.bench = {
  state,
  start,
  stop,
  enqueueRate,
  fill,
  latencies,
  idbRate,
  enqueueSequential,
  idbSequential,
  storageUsage,
  compressRate,
};
globalThis.benchReady = true;
