/**
 * The kiosk demo: a factory-machine panel running the Spotflow device SDK in the browser.
 *
 * In your own app you would write:
 *   import { DeviceClient } from 'spotflow-device'; // the `browser` condition picks the browser platform
 * This demo imports the SDK's browser entry by relative path so that it builds from the source in this repo.
 */
import { DeviceClient, isSpotflowError } from '../../../platform/browser/index.js';
import { type KioskConfig, loadConfigShown } from './config.js';
import { runKiosk } from './device.js';
import { deviceOptions } from './device-options.js';
import { byTest, errorText } from './dom.js';
import { announcePanel, becomePanel, PanelLockedError } from './panel-presence.js';
import { portalDeepLink } from './qr.js';
import { PanelView } from './view.js';

const panel = new PanelView();

async function boot(): Promise<void> {
  const config = await loadConfigShown(panel, 'The kiosk is not configured', () => void boot());
  if (config === undefined) return;
  panel.setDeviceId(config.deviceId);
  await start(config, false);
}

/**
 * Starts the device: at once from the stored registration (online or not), or by provisioning (the panel shows
 * the code until a technician approves). Another tab that is the panel already shows a button that waits for it.
 */
async function start(config: KioskConfig, waitForLock: boolean): Promise<void> {
  panel.setConnection('connecting');
  if (waitForLock)
    panel.showNotice('Waiting for the other tab', 'This panel starts once the other tab closes.');
  let client: DeviceClient;
  try {
    await becomePanel(config.database, waitForLock);
    client = await DeviceClient.start(
      deviceOptions(config, {
        waitForLock,
        onProvisioningOperation: (operation) => {
          panel.showProvisioning(operation.verificationCode, () =>
            portalDeepLink(config.portalUrl, operation.id, [config.provisioningToken]),
          );
        },
      }),
    );
  } catch (error) {
    startFailed(config, error);
    return;
  }
  panel.showError(undefined);
  runKiosk(client, panel);
  announcePanel(config.database);
}

function startFailed(config: KioskConfig, error: unknown): void {
  panel.setConnection('offline');
  panel.showError(error);
  if (error instanceof PanelLockedError || isSpotflowError(error, 'DATABASE_LOCKED')) {
    panel.showNotice(
      'DATABASE_LOCKED: open in another tab',
      `Another tab or window already runs this device's panel (database "${config.database}"). Close it, or wait here until it closes.`,
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

/** The service page: a window of its own on the same device (service.ts), opened once and brought up again. */
let serviceWindow: Window | null = null;
byTest('service-open').addEventListener('click', () => {
  if (serviceWindow !== null && !serviceWindow.closed) serviceWindow.focus();
  else serviceWindow = window.open('./service.html', 'spotflow-service', 'popup');
});

void boot();
