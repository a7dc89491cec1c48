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

/** `count` enqueues of `size` bytes by `callers` concurrent callers; returns msg/s. */
async function enqueueRate(count, callers, size) {
  const payload = new Uint8Array(size).fill(1);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        next++;
        await state.client.enqueueMessage(payload, { stream: 'bench' });
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Tops the outbox up to `total` pending messages of 256 B. */
async function fill(total) {
  const pending = await state.client.pendingMessagesCount();
  if (pending < total) await enqueueRate(total - pending, 64, 256);
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

let baselineDb;
/** The baseline: one IndexedDB put per message, each in its own `durability: 'strict'` transaction. */
async function idbRate(count, callers, size) {
  baselineDb ??= await new Promise((resolve, reject) => {
    const request = indexedDB.open('bench-baseline', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('messages', { autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const put = (value) =>
    new Promise((resolve, reject) => {
      const transaction = baselineDb.transaction('messages', 'readwrite', { durability: 'strict' });
      transaction.objectStore('messages').put(value);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < count) {
        next++;
        await put(new Uint8Array(size).fill(1));
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
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

globalThis.bench = { state, start, enqueueRate, fill, latencies, idbRate, compressRate };
globalThis.benchReady = true;
