// The worker of pages/device-worker.ts: a shared device client in a dedicated worker, driven by requests.
import * as browserEntry from '../../../platform/browser/index.js';

export interface WorkerRequest {
  id: number;
  op: 'start' | 'enqueue' | 'desired' | 'close';
  args: Record<string, unknown>;
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

let client: browserEntry.DeviceClient | undefined;
/** The desired properties each `desiredProperties` event of the worker's client carried. */
const desiredEvents: unknown[] = [];

const ops: Record<WorkerRequest['op'], (args: Record<string, unknown>) => Promise<unknown>> = {
  async start(options) {
    client = await browserEntry.DeviceClient.start({
      ...(options as unknown as browserEntry.BrowserStartOptions),
      logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
    });
    client.on('desiredProperties', (desired) => desiredEvents.push(desired.values));
    return client.deviceId;
  },
  /** What `desiredProperties()` says now, and what the events carried. */
  async desired() {
    return { now: client!.desiredProperties().values, events: desiredEvents };
  },
  /** `count` messages `{ tab, n }`, 8 at a time; resolves with their ids. */
  async enqueue({ tab, count }) {
    const ids: string[] = [];
    const run = async (lane: number) => {
      for (let n = lane; n < (count as number); n += 8) {
        ids.push((await client!.enqueueMessage({ tab: tab as number, n }, { stream: 'telemetry' })).id);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, lane) => run(lane)));
    return ids;
  },
  async close() {
    await client?.close();
  },
};

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const { id, op, args } = event.data;
  try {
    postMessage({ id, ok: true, value: await ops[op](args) } satisfies WorkerReply);
  } catch (error) {
    const { code } = error as { code?: string };
    postMessage({ id, ok: false, error: `${code}: ${(error as Error).message}` } satisfies WorkerReply);
  }
};
