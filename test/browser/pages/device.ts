// A page that runs the SDK's browser entry as a kiosk would. Tests drive it with `page.evaluate`, through the
// globals below (see test/browser/device-page.ts for the Node side).
import * as browserEntry from '../../../platform/browser/index.js';
import { markReady } from '../harness/in-page.js';
import type { DevicePage } from './globals.js';

const recorded = [
  'connected',
  'disconnected',
  'error',
  'desiredProperties',
  'messageSent',
  'uploadProgress',
] as const;

globalThis.spotflow = browserEntry;
const device: DevicePage = {
  client: undefined,
  starting: undefined,
  startError: undefined,
  operations: [],
  events: [],
  resolved: [],
  start(options) {
    // A new start replaces what an earlier one in this page left.
    device.client = undefined;
    device.startError = undefined;
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

globalThis.device = device;

function summary(detail: unknown): unknown {
  if (detail instanceof Error) return { code: (detail as { code?: string }).code, message: detail.message };
  try {
    return JSON.parse(JSON.stringify(detail ?? null));
  } catch {
    return String(detail);
  }
}

markReady();
