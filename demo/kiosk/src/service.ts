/**
 * The service page: a second window (opened from the panel's "Service page" button) on the panel's device. It
 * starts its own client with the panel's options and `shared: true`, so it shows the same device, whichever window
 * owns the database and the connection, and sends a service check of its own.
 *
 * It never provisions ("waiting-for-panel" until it runs): with no panel open it does not start at all, and starts
 * when a panel says that its device has started; with a panel open its start waits for the panel's (the panel owns
 * the database while it provisions). Should it end up owning a device with no registration (the panel closed
 * before approval), it stops its start as soon as the SDK opens a provisioning operation, and waits for a panel.
 */
import { DeviceClient } from '../../../platform/browser/index.js';
import { readSamplingInterval } from '../../shared/settings.js';
import { type KioskConfig, loadConfigShown } from './config.js';
import { DeviceStateView, RecentList } from './dashboard.js';
import { deviceOptions } from './device-options.js';
import { watchDevice } from './device-state.js';
import { byTest, element, errorText, setText } from './dom.js';
import { isPanelOpen, onPanelStarted } from './panel-presence.js';
import { FrameView } from './view.js';

/** The stream of the service page's own messages (the panel's readings go to `readings`). */
const serviceStream = 'service';

const frame = new FrameView();
let starting = false;
/** A panel said its device started while this page was starting: looked at again once that start is over. */
let panelStarted = false;

async function boot(): Promise<void> {
  frame.setConnection('waiting-for-panel');
  const config = await loadConfigShown(frame, 'The service page is not configured', () => void boot());
  if (config === undefined) return;
  frame.setDeviceId(config.deviceId);
  onPanelStarted(config.database, () => {
    panelStarted = true;
    if (!starting) startWhenWaiting(config);
  });
  await start(config);
}

async function start(config: KioskConfig): Promise<void> {
  starting = true;
  panelStarted = false;
  try {
    const client = await startDevice(config);
    if (client === undefined) return;
    frame.hideNotice();
    frame.showError(undefined);
    runService(client);
  } catch (error) {
    frame.setConnection('offline');
    frame.showError(error);
    frame.showNotice('The device could not start', errorText(error), {
      label: 'Try again',
      run: () => void start(config),
    });
  } finally {
    starting = false;
    startWhenWaiting(config);
  }
}

function startWhenWaiting(config: KioskConfig): void {
  if (!panelStarted || frame.connection !== 'waiting-for-panel') return;
  panelStarted = false;
  void start(config);
}

/** The started client; `undefined` while there is no panel, or no registration (then the panel's start is awaited). */
async function startDevice(config: KioskConfig): Promise<DeviceClient | undefined> {
  frame.setConnection('waiting-for-panel');
  if (!(await isPanelOpen(config.database))) {
    frame.showNotice(
      'Waiting for the panel',
      'No panel of this device is open. Open the panel; this page starts once its device runs.',
    );
    return undefined;
  }
  frame.showNotice(
    'Waiting for the panel',
    'This page shows the device once the panel runs it: approved in the portal, with a registration. Keep the panel open.',
  );
  const notProvisioned = new AbortController();
  try {
    return await DeviceClient.start(
      deviceOptions(config, {
        signal: notProvisioned.signal,
        // Only the panel provisions (it shows the code): the panel closed before approval, and this window owns
        // a device that has no registration.
        onProvisioningOperation: () => notProvisioned.abort(),
      }),
    );
  } catch (error) {
    if (!notProvisioned.signal.aborted) throw error;
    frame.showNotice(
      'Waiting for the panel: not provisioned yet',
      'The panel provisions this device. Open the panel and approve the code it shows; this page starts once the panel runs.',
    );
    return undefined;
  }
}

function runService(client: DeviceClient): void {
  byTest('service').hidden = false;
  const device = watchDevice(client, frame, new DeviceStateView(), (desired) => {
    const setting = readSamplingInterval(desired.values);
    setText(byTest('desired-sampling-interval'), setting.ok ? String(setting.intervalMs) : 'invalid');
  });

  const sent = new RecentList<{ id: string; at: Date }>('sent-messages', 'sent-empty', (message) => {
    const item = element(
      'li',
      { test: 'sent-message' },
      element('p', { className: 'mono', test: 'sent-message-id', text: message.id }),
      element('p', { className: 'small muted', text: message.at.toLocaleTimeString() }),
    );
    item.dataset.id = message.id;
    return item;
  });
  client.on('messageSent', ({ id }) => sent.add({ id, at: new Date() }));

  const button = byTest<HTMLButtonElement>('service-send');
  const state = byTest('service-send-state');
  const show = (shown: 'sending' | 'acknowledged' | 'failed', text: string) => {
    state.dataset.state = shown;
    setText(state, text);
  };
  button.disabled = false;
  button.addEventListener('click', () => {
    button.disabled = true;
    show('sending', 'sending…');
    client
      .sendMessage({ note: 'service check', at: new Date().toISOString() }, { stream: serviceStream })
      .then(
        ({ id }) => {
          setText(byTest('service-sent-id'), id);
          show('acknowledged', `acknowledged at ${new Date().toLocaleTimeString()}`);
        },
        (error: unknown) => {
          show('failed', errorText(error));
          frame.showError(error);
        },
      )
      .finally(() => {
        button.disabled = false;
        device.refreshPending();
      });
  });
}

void boot();
