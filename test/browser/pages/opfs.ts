// Runs the OPFS store in a dedicated worker (pages/opfs-worker.ts) and exposes one call to the test.
import { markReady } from '../harness/in-page.js';
import type { OpfsRequest } from './opfs-worker.js';
import './globals.js';

const worker = new Worker(new URL('./opfs-worker.ts', import.meta.url), { type: 'module' });
const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let next = 1;
worker.onmessage = ({ data }: MessageEvent<{ id: number; ok: boolean; value?: unknown; error?: string }>) => {
  const call = waiting.get(data.id);
  waiting.delete(data.id);
  if (data.ok) call?.resolve(data.value);
  else call?.reject(new Error(data.error));
};

globalThis.__opfs = (request) =>
  new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, request: request as OpfsRequest });
  });

markReady();
