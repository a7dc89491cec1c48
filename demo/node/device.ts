/**
 * The Node sample device: what a machine's controller runs. It provisions (printing the verification code for the
 * technician), then samples a simulated sensor and sends the readings, applies the sampling interval set in the
 * device twin and reports it, answers the `identify` direct method and prints cloud-to-device messages, with a
 * live status line. Offline it keeps sampling; the SDK stores every reading and sends it when the link is back.
 *
 * A user's own code would `import { DeviceClient } from 'spotflow-device'`; the demo imports the source.
 */
import { DeviceClient, isSpotflowError, type Logger } from '../../platform/node/index.js';
import { readingsStream, Sampler, SimulatedSensor } from '../shared/sensor.js';
import {
  changes,
  defaultSamplingIntervalMs,
  readIdentifySeconds,
  readSamplingInterval,
  reportedPatch,
} from '../shared/settings.js';
import type { StatusLine } from './status-line.js';

export interface NodeDeviceOptions {
  instance: string;
  provisioningToken: string;
  /** The SQLite file that holds the device's state. */
  database: string;
  deviceId: string;
  /** The portal, for the link printed with the verification code (no token in it). */
  portalUrl?: string;
  /** Extra trusted CA (PEM), for an instance on https with a private CA. */
  ca?: string;
  /** Stops the device: it closes the client and resolves. */
  signal: AbortSignal;
  status: StatusLine;
}

const firmware = 'node-demo 1.0';

/** Runs the device until `signal` aborts. Rejects only when it cannot start (the reason is printed first). */
export async function runNodeDevice(options: NodeDeviceOptions): Promise<void> {
  const { status, signal } = options;
  status.update(`${options.deviceId}: starting`);
  let client: DeviceClient;
  try {
    client = await DeviceClient.start({
      instance: options.instance,
      provisioningToken: options.provisioningToken,
      database: options.database,
      deviceId: options.deviceId,
      signal,
      logger: statusLogger(status),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      onProvisioningOperation: (operation) => {
        const link = options.portalUrl ? `  ${portalLink(options.portalUrl, operation.id)}` : '';
        status.print(
          `Node device "${options.deviceId}" waits for approval. Verification code: ${operation.verificationCode}${link}`,
        );
        status.update(`${options.deviceId}: waiting for approval (code ${operation.verificationCode})`);
      },
    });
  } catch (error) {
    if (signal.aborted) return;
    status.print(`Node device "${options.deviceId}" could not start: ${describe(error)}`);
    throw error;
  }

  const sensor = new SimulatedSensor();
  let sent = 0;
  client.on('messageSent', () => {
    sent++;
  });

  // What was applied before a restart is what was reported: an invalid desired value then leaves it in force.
  const stored = readSamplingInterval({
    samplingIntervalMs: client.reportedProperties().values.samplingIntervalMs,
  });
  const sampler = new Sampler(stored.ok ? stored.intervalMs : defaultSamplingIntervalMs, () => {
    client.enqueueMessage(sensor.read(), { stream: readingsStream }).catch((error: unknown) => {
      if (!isSpotflowError(error, 'CLIENT_CLOSED'))
        status.print(`A reading was not stored: ${describe(error)}`);
    });
  });
  const applyDesired = (values: Record<string, unknown>) => {
    const setting = readSamplingInterval(values);
    if (!setting.ok) status.print(`Desired configuration refused: ${setting.error}`);
    else if (setting.intervalMs !== sampler.intervalMs)
      status.print(`Sampling interval set to ${setting.intervalMs} ms`);
    if (setting.ok) sampler.setInterval(setting.intervalMs);
    const patch = reportedPatch(setting, sampler.intervalMs, firmware);
    if (changes(client.reportedProperties().values, patch)) {
      client.updateReportedProperties(patch).catch((error: unknown) => status.print(describe(error)));
    }
  };

  client.on('desiredProperties', ({ values }) => applyDesired(values));
  client.onMethod('identify', (payload) => {
    const request = readIdentifySeconds(payload);
    if ('error' in request) return { status: 400, payload: { error: request.error } };
    status.print(`*** identify: this is "${options.deviceId}" (${request.seconds} s) ***`);
    return { status: 200, payload: { identified: true, seconds: request.seconds } };
  });
  client.onCloudMessage((message) => {
    status.print(
      `Message from the cloud: ${JSON.stringify(message.text())} ${JSON.stringify(message.properties)}`,
    );
  });
  applyDesired(client.desiredProperties().values);
  sampler.start();

  const refresh = setInterval(() => {
    void client.pendingMessagesCount().then(
      (pending) =>
        status.update(
          `${options.deviceId}: ${client.connected ? 'connected' : 'offline'} | sent ${sent} | pending ${pending} | every ${sampler.intervalMs} ms`,
        ),
      () => {},
    );
  }, 500);

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(refresh);
  sampler.stop();
  await client.close();
  status.update(`${options.deviceId}: stopped (sent ${sent})`);
  status.end();
}

/** The portal focused on one provisioning operation; never carries a token. */
export function portalLink(portalUrl: string, operationId: string): string {
  const url = new URL(portalUrl);
  url.hash = `operation=${encodeURIComponent(operationId)}`;
  return url.href;
}

/** SDK warnings and errors above the status line; the rest is dropped (tokens never reach a logger anyway). */
function statusLogger(status: StatusLine): Logger {
  return {
    debug() {},
    info() {},
    warn: (message) => status.print(`warning: ${message}`),
    error: (message) => status.print(`error: ${message}`),
  };
}

function describe(error: unknown): string {
  if (isSpotflowError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
