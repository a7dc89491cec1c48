/**
 * The network faults of the reliability suite, as the fault proxy plays them: used by the CI cases
 * (network-faults.ts, for each transport) and by `npm run soak` (soak.ts), which repeats them for half an hour.
 */
import type { FaultMode, FaultProxy } from './fault-proxy.js';

export interface NetworkFault {
  name: string;
  /** Runs the fault; resolves when the link is healthy again for good. */
  run(proxy: FaultProxy): Promise<void>;
  /** When, after the fault began, a second device closes (close() must settle within its grace period). */
  closeAfterMs: number;
  /** Bound on the time from the fault's end until the backlog is acknowledged. */
  recoveryBoundMs: number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Holds the proxy in `mode` for `ms`, then lets bytes pass again. */
export function hold(proxy: FaultProxy, mode: FaultMode, ms: number): Promise<void> {
  proxy.mode = mode;
  return sleep(ms).then(() => {
    proxy.mode = { kind: 'pass' };
  });
}

/** How long the black hole and the stall last: longer than the SDK's 15 s dead-link rule. */
const silentMs = 20_000;

export const networkFaults: NetworkFault[] = [
  {
    name: 'reset every 2 s for 20 s',
    async run(proxy) {
      for (let i = 0; i < 10; i++) {
        await sleep(2000);
        proxy.reset();
      }
    },
    closeAfterMs: 3000,
    recoveryBoundMs: 8000,
  },
  {
    name: 'black hole 20 s',
    run: (proxy) => hold(proxy, { kind: 'blackhole' }, silentMs),
    closeAfterMs: 3000,
    recoveryBoundMs: 20_000,
  },
  {
    name: 'stall 20 s',
    run: (proxy) => hold(proxy, { kind: 'stall' }, silentMs),
    closeAfterMs: 3000,
    recoveryBoundMs: 20_000,
  },
  {
    name: 'throttle 64 kB/s for 10 s',
    run: (proxy) => hold(proxy, { kind: 'throttle', bytesPerSecond: 64 * 1024 }, 10_000),
    closeAfterMs: 3000,
    recoveryBoundMs: 10_000,
  },
  {
    name: 'flapping every 3 s for 15 s',
    async run(proxy) {
      for (let i = 0; i < 3; i++) {
        proxy.mode = { kind: 'down' };
        await sleep(3000);
        proxy.mode = { kind: 'pass' };
        if (i < 2) await sleep(3000);
      }
    },
    closeAfterMs: 1000,
    recoveryBoundMs: 8000,
  },
];
