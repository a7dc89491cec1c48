/**
 * A started client wired to the panel: the sensor's readings go to the outbox (also offline: the SDK keeps them),
 * the desired sampling interval is applied at once and reported, `identify` flashes the panel, cloud messages show.
 */
import type { DesiredProperties, DeviceClient } from '../../../platform/browser/index.js';
import { readingsStream, Sampler, SimulatedSensor } from '../../shared/sensor.js';
import {
  changes,
  defaultSamplingIntervalMs,
  readIdentifySeconds,
  readSamplingInterval,
  reportedPatch,
} from '../../shared/settings.js';
import { DashboardView } from './dashboard.js';
import type { PanelView } from './view.js';

const firmware = 'kiosk-demo 1.0';

export function runKiosk(client: DeviceClient, panel: PanelView): void {
  const dashboard = new DashboardView();
  const sensor = new SimulatedSensor();
  const pending = coalesced(async () => dashboard.setPending(await client.pendingMessagesCount()), panel);
  const reported = trackReported(client, dashboard, panel);

  // What was applied before a reload is what was reported: an invalid desired value then still leaves it in force.
  const stored = readSamplingInterval({
    samplingIntervalMs: client.reportedProperties().values.samplingIntervalMs,
  });
  const sampler = new Sampler(stored.ok ? stored.intervalMs : defaultSamplingIntervalMs, () => {
    const reading = sensor.read();
    dashboard.showReading(reading);
    client
      .enqueueMessage(reading, { stream: readingsStream })
      .then(pending.run, (error) => panel.showError(error));
  });

  const applyDesired = (desired: DesiredProperties) => {
    dashboard.setDesired(desired.version, desired.values);
    const setting = readSamplingInterval(desired.values);
    if (setting.ok) sampler.setInterval(setting.intervalMs);
    dashboard.setSamplingInterval(sampler.intervalMs);
    const patch = reportedPatch(setting, sampler.intervalMs, firmware);
    if (changes(client.reportedProperties().values, patch)) reported.update(patch);
  };

  const showConnection = (connected: boolean) => {
    panel.setConnection(connected ? 'connected' : 'offline');
    dashboard.setOffline(!connected);
  };

  client.on('connected', () => showConnection(true));
  client.on('disconnected', () => showConnection(false));
  client.on('messageSent', () => {
    dashboard.countSent();
    pending.run();
  });
  client.on('desiredProperties', applyDesired);
  client.on('reportedPropertiesSent', () => reported.refresh());
  client.on('error', (error) => {
    panel.showError(error);
    // A failed connection attempt is reported only as an error: the first one after a start makes it offline.
    if (!client.connected && panel.connection === 'connecting') showConnection(false);
  });
  client.on('outboxFull', () =>
    panel.showError(new Error('The outbox is full: the oldest readings were dropped')),
  );

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

  panel.setDeviceId(client.deviceId);
  panel.showDashboard();
  if (client.connected) showConnection(true);
  else {
    panel.setConnection('connecting');
    dashboard.setOffline(true);
  }
  applyDesired(client.desiredProperties());
  reported.refresh();
  sampler.start();
  pending.run();
  window.setInterval(pending.run, 1000);
}

/** Runs `task` now, or once more after the run in progress: never two at a time, never a call lost. */
function coalesced(task: () => Promise<void>, panel: PanelView): { run: () => void } {
  let running = false;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    task()
      .catch((error: unknown) => panel.showError(error))
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return { run };
}

/** Stores reported patches (durable; sent when online) and shows them with whether the hub has them all. */
function trackReported(client: DeviceClient, dashboard: DashboardView, panel: PanelView) {
  let generation = 0;
  let sent = false;
  const refresh = () => {
    const mine = ++generation;
    dashboard.setReported(client.reportedProperties().values, sent);
    client.waitReportedPropertiesSent().then(
      () => {
        if (mine !== generation) return;
        sent = true;
        dashboard.setReported(client.reportedProperties().values, true);
      },
      (error: unknown) => panel.showError(error),
    );
  };
  return {
    refresh,
    update(patch: Record<string, unknown>) {
      sent = false;
      client.updateReportedProperties(patch).then(refresh, (error: unknown) => panel.showError(error));
    },
  };
}
