// A page whose device client runs in a dedicated worker (pages/device-in-worker.ts), as a kiosk that moves its
// sensor loop into a worker does; the test drives the worker through `inWorker(op, args)`.
import { markReady } from '../harness/in-page.js';
import type { WorkerReply, WorkerRequest } from './device-in-worker.js';

const worker = new Worker(new URL('./device-in-worker.ts', import.meta.url), { type: 'module' });
const waiting = new Map<number, (reply: WorkerReply) => void>();
let next = 1;
worker.onmessage = (event: MessageEvent<WorkerReply>) => waiting.get(event.data.id)?.(event.data);

globalThis.inWorker = (op, args) =>
  new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, (reply) => {
      waiting.delete(id);
      if (reply.ok) resolve(reply.value);
      else reject(new Error(reply.error));
    });
    worker.postMessage({ id, op, args } satisfies WorkerRequest);
  });

markReady();
