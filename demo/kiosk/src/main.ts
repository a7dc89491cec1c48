/**
 * The kiosk demo: a factory-machine panel running the Spotflow device SDK in the browser.
 *
 * In your own app you would write:
 *   import { DeviceClient } from 'spotflow-device'; // the `browser` condition picks the browser platform
 * This demo imports the SDK's browser entry by relative path so that it builds from the source in this repo.
 */
import { DeviceClient, isSpotflowError } from '../../../platform/browser/index.js';
import { type KioskConfig, loadConfig } from './config.js';
import { runKiosk } from './device.js';
import { errorText } from './dom.js';
import { portalDeepLink } from './qr.js';
import { PanelView } from './view.js';

const panel = new PanelView();

async function boot(): Promise<void> {
  let config: KioskConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    panel.setConnection('offline');
    panel.showNotice('The kiosk is not configured', errorText(error), {
      label: 'Try again',
      run: () => void boot(),
    });
    panel.showError(error);
    return;
  }
  panel.setDeviceId(config.deviceId);
  await start(config, false);
}

/**
 * Starts the device: at once from the stored registration (online or not), or by provisioning (the panel shows
 * the code until a technician approves). A database owned by another tab shows a button that waits for it.
 */
async function start(config: KioskConfig, waitForLock: boolean): Promise<void> {
  panel.setConnection('connecting');
  if (waitForLock)
    panel.showNotice('Waiting for the other tab', 'This panel starts once the other tab closes.');
  let client: DeviceClient;
  try {
    client = await DeviceClient.start({
      provisioningToken: config.provisioningToken,
      instance: config.instance,
      deviceId: config.deviceId,
      database: config.database,
      waitForLock,
      // A panel on a local network: ask for approval often and come back quickly after an outage.
      provisioningPollIntervalMs: 1000,
      reconnectInitialDelayMs: 500,
      reconnectMaxDelayMs: 5000,
      logger: { debug() {}, info() {}, warn: console.warn, error: console.error },
      onProvisioningOperation: (operation) => {
        panel.showProvisioning(operation.verificationCode, () =>
          portalDeepLink(config.portalUrl, operation.id, [config.provisioningToken]),
        );
      },
    });
  } catch (error) {
    startFailed(config, error);
    return;
  }
  panel.showError(undefined);
  runKiosk(client, panel);
}

function startFailed(config: KioskConfig, error: unknown): void {
  panel.setConnection('offline');
  panel.showError(error);
  if (isSpotflowError(error, 'DATABASE_LOCKED')) {
    panel.showNotice(
      'DATABASE_LOCKED: open in another tab',
      `Another tab or window already runs this device (database "${config.database}"). Close it, or wait here until it closes.`,
      { label: 'Wait for the other tab', run: () => void start(config, true) },
    );
  } else if (isSpotflowError(error, 'PROVISIONING_EXPIRED')) {
    // Nobody approved in time: start over with a new code.
    void start(config, false);
  } else {
    panel.showNotice('The device could not start', errorText(error), {
      label: 'Try again',
      run: () => void start(config, false),
    });
  }
}

void boot();
