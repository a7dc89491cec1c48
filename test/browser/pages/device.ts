// A page that runs the SDK's browser entry as a kiosk would. Tests drive it with `page.evaluate`, through the
// globals below (see test/browser/device-page.ts for the Node side).
import * as browserEntry from '../../../platform/browser/index.js';
import { markReady } from '../harness/in-page.js';

declare global {
  var spotflow: typeof import('../../../platform/browser/index.js');
  var device: DevicePage;
}

export interface DevicePage {
  client: browserEntry.DeviceClient | undefined;
  /** The pending `start()`, settled into `client` or `startError`. */
  starting: Promise<void> | undefined;
  startError: string | undefined;
  /** What `onProvisioningOperation` was given. */
  operations: { id: string; verificationCode: string }[];
  /** Every event the client emitted, by name, with a JSON-able summary. */
  events: { name: string; detail: unknown }[];
  /** Ids of enqueues that resolved (durable), in resolution order. */
  resolved: string[];
  start(options: Omit<browserEntry.BrowserStartOptions, 'onProvisioningOperation' | 'logger'>): Promise<void>;
}

const recorded = [
  'connected',
  'disconnected',
  'error',
  'desiredProperties',
  'messageSent',
  'uploadProgress',
] as const;

globalThis.spotflow = browserEntry;
globalThis.device = {
  client: undefined,
  starting: undefined,
  startError: undefined,
  operations: [],
  events: [],
  resolved: [],
  start(options) {
    const started = browserEntry.DeviceClient.start({
      ...options,
      logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
      onProvisioningOperation: (operation) => {
        device.operations.push({ id: operation.id, verificationCode: operation.verificationCode });
      },
    });
    device.starting = started.then(
      (client) => {
        device.client = client;
        for (const name of recorded) {
          client.on(name, (detail: unknown) => {
            device.events.push({ name, detail: summary(detail) });
          });
        }
      },
      (error: unknown) => {
        device.startError = `${(error as { code?: string }).code}: ${(error as Error).message}`;
        throw error;
      },
    );
    return device.starting;
  },
};

function summary(detail: unknown): unknown {
  if (detail instanceof Error) return { code: (detail as { code?: string }).code, message: detail.message };
  try {
    return JSON.parse(JSON.stringify(detail ?? null));
  } catch {
    return String(detail);
  }
}

markReady();
