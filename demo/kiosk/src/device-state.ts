/**
 * What the panel and the service page both show of a running device, whichever window owns it: the connection,
 * the outbox, the desired and reported properties, errors. Every window hears the device's events.
 */
import type { DesiredProperties, DeviceClient } from '../../../platform/browser/index.js';
import type { DeviceStateView } from './dashboard.js';
import type { FrameView } from './view.js';

export interface WatchedDevice {
  /** Shows the pending count again (now, or once more after the count in progress). */
  refreshPending: () => void;
  /** Stores a reported patch (durable; sent when online) and shows it until the hub has it. */
  updateReported: (patch: Record<string, unknown>) => void;
}

export function watchDevice(
  client: DeviceClient,
  frame: FrameView,
  view: DeviceStateView,
  onDesired: (desired: DesiredProperties, device: WatchedDevice) => void,
): WatchedDevice {
  const pending = coalesced(async () => view.setPending(await client.pendingMessagesCount()), frame);
  const reported = trackReported(client, view, frame);
  const watched: WatchedDevice = { refreshPending: pending.run, updateReported: reported.update };
  const showConnection = (connected: boolean) => {
    frame.setConnection(connected ? 'connected' : 'offline');
    view.setOffline(!connected);
  };
  const showDesired = (desired: DesiredProperties) => {
    view.setDesired(desired.version, desired.values);
    onDesired(desired, watched);
  };

  client.on('connected', () => showConnection(true));
  client.on('disconnected', () => showConnection(false));
  client.on('messageSent', () => {
    view.countSent();
    pending.run();
  });
  client.on('desiredProperties', showDesired);
  client.on('reportedPropertiesSent', () => reported.refresh());
  client.on('error', (error) => {
    frame.showError(error);
    // A failed connection attempt is reported only as an error: the first one after a start makes it offline.
    if (!client.connected && frame.connection === 'connecting') showConnection(false);
  });
  client.on('outboxFull', () =>
    frame.showError(new Error('The outbox is full: the oldest readings were dropped')),
  );

  frame.setDeviceId(client.deviceId);
  if (client.connected) showConnection(true);
  else {
    frame.setConnection('connecting');
    view.setOffline(true);
  }
  showDesired(client.desiredProperties());
  reported.refresh();
  pending.run();
  window.setInterval(pending.run, 1000);
  return watched;
}

/** Runs `task` now, or once more after the run in progress: never two at a time, never a call lost. */
function coalesced(task: () => Promise<void>, frame: FrameView): { run: () => void } {
  let running = false;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    task()
      .catch((error: unknown) => frame.showError(error))
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
function trackReported(client: DeviceClient, view: DeviceStateView, frame: FrameView) {
  let generation = 0;
  let sent = false;
  const refresh = () => {
    const mine = ++generation;
    view.setReported(client.reportedProperties().values, sent);
    client.waitReportedPropertiesSent().then(
      () => {
        if (mine !== generation) return;
        sent = true;
        view.setReported(client.reportedProperties().values, true);
      },
      (error: unknown) => frame.showError(error),
    );
  };
  return {
    refresh,
    update(patch: Record<string, unknown>) {
      sent = false;
      client.updateReportedProperties(patch).then(refresh, (error: unknown) => frame.showError(error));
    },
  };
}
