// The MqttConnector contract in Chromium: MQTT.js's browser build over ws:// and wss:// to the emulator, which
// runs on another origin. For wss:// the browser is told to accept the emulator's self-signed certificate
// (Playwright's ignoreHTTPSErrors): a kiosk trusts what its browser trusts, which the SDK does not change.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { mqttContract } from '../contract/mqtt-contract.js';
import { provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import {
  BROWSER_TIMEOUT_MS,
  gotoPage,
  launchBrowser,
  logPageProblems,
  runContractCase,
} from './harness/index.js';

let emulator: TestEmulator;
let browser: Browser;
let deviceCounter = 0;

beforeAll(async () => {
  emulator = await startTestEmulator();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await emulator?.close();
});

/** A page whose `__emulator*` functions reach the emulator running in this process. */
async function contractPage(context: BrowserContext): Promise<Page> {
  await context.exposeFunction('__emulatorProvision', async () => {
    const device = await provisionDevice(emulator, `browser-contract-${++deviceCounter}`);
    return { ...device, password: device.sasToken };
  });
  await context.exposeFunction('__emulatorMessages', async (deviceId: string) => {
    const { items } = await emulator.api.messages(deviceId, '?limit=1000');
    return items.map((item) => ({ mid: item.mid, payloadBase64: item.payloadBase64 }));
  });
  await context.exposeFunction(
    '__emulatorCloudMessage',
    async (deviceId: string, body: string, properties: Record<string, string>) => {
      const query = new URLSearchParams(properties).toString();
      const path = `/devices/${encodeURIComponent(deviceId)}/c2d-messages${query ? `?${query}` : ''}`;
      const result = await emulator.api.request('POST', path, undefined, { body });
      if (result.status !== 202) throw new Error(`c2d: ${result.status}`);
    },
  );
  await context.exposeFunction('__emulatorDrop', async (deviceId: string) => {
    const result = await emulator.api.request(
      'DELETE',
      `/devices/${encodeURIComponent(deviceId)}/connection`,
    );
    if (result.status !== 204) throw new Error(`drop: ${result.status}`);
  });
  await context.exposeFunction('__emulatorIsConnected', async (deviceId: string) => {
    const devices = await emulator.api.request<{ deviceId: string; connected: boolean }[]>('GET', '/devices');
    return devices.body.some((device) => device.deviceId === deviceId && device.connected);
  });
  const page = await context.newPage();
  page.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  logPageProblems(page, 'mqtt');
  await gotoPage(page, 'mqtt.html');
  return page;
}

describe.each(['ws', 'wss'] as const)('MqttConnector contract (MQTT.js browser build, %s)', (scheme) => {
  let page: Page;
  beforeAll(async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: scheme === 'wss' });
    page = await contractPage(context);
  });

  it.each(mqttContract.map((c) => c.name))('%s', (name) =>
    runContractCase(page, name, { url: `${scheme}://localhost:${emulator.port}/$iothub/websocket` }),
  );
});
