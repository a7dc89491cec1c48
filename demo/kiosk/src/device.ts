/**
 * A started client wired to the panel: the sensor's readings go to the outbox (also offline: the SDK keeps them),
 * the desired sampling interval is applied at once and reported, `identify` flashes the panel, cloud messages show.
 */
import type { DeviceClient } from '../../../platform/browser/index.js';
import { readingsStream, Sampler, SimulatedSensor } from '../../shared/sensor.js';
import {
  changes,
  defaultSamplingIntervalMs,
  readIdentifySeconds,
  readSamplingInterval,
  reportedPatch,
} from '../../shared/settings.js';
import { DashboardView } from './dashboard.js';
import { watchDevice } from './device-state.js';
import type { PanelView } from './view.js';

const firmware = 'kiosk-demo 1.0';

export function runKiosk(client: DeviceClient, panel: PanelView): void {
  const dashboard = new DashboardView();
  const sensor = new SimulatedSensor();

  // What was applied before a reload is what was reported: an invalid desired value then still leaves it in force.
  const stored = readSamplingInterval({
    samplingIntervalMs: client.reportedProperties().values.samplingIntervalMs,
  });
  const sampler = new Sampler(stored.ok ? stored.intervalMs : defaultSamplingIntervalMs, () => {
    const reading = sensor.read();
    dashboard.showReading(reading);
    client
      .enqueueMessage(reading, { stream: readingsStream })
      .then(device.refreshPending, (error) => panel.showError(error));
  });

  panel.showDashboard();
  const device = watchDevice(client, panel, dashboard, (desired, watched) => {
    const setting = readSamplingInterval(desired.values);
    if (setting.ok) sampler.setInterval(setting.intervalMs);
    dashboard.setSamplingInterval(sampler.intervalMs);
    const patch = reportedPatch(setting, sampler.intervalMs, firmware);
    if (changes(client.reportedProperties().values, patch)) watched.updateReported(patch);
  });

  client.onMethod('identify', (payload) => {
    const request = readIdentifySeconds(payload);
    if ('error' in request) return { status: 400, payload: { error: request.error } };
    dashboard.flash(request.seconds);
    return { status: 200, payload: { identified: true, seconds: request.seconds } };
  });
  client.onCloudMessage((message) => {
    const properties = Object.fromEntries(
      Object.entries(message.properties).filter(([key]) => !key.startsWith('$.')),
    );
    dashboard.addCloudMessage({ text: message.text(), properties, receivedAt: new Date() });
  });

  sampler.start();
}
