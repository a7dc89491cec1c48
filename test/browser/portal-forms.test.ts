// The portal's forms in Chromium: each error path shows a clear message next to the form that caused it, results
// show where expected, files download, and nothing from the API is ever inserted as HTML.
import type { MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerMethods, sendTelemetry, uploadFile } from '../emulator/portal-support.js';
import { connectDevice, nextMessage } from '../helpers/device-mqtt.js';
import {
  type ProvisionedDevice,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';
import { launchBrowser, newContext } from './harness/index.js';
import { openPortalOnDevice } from './portal-page.js';

let emulator: TestEmulator;
let browser: Browser;
let pump: ProvisionedDevice;
let pumpClient: MqttClient;
const contexts: BrowserContext[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  [emulator, browser] = await Promise.all([startTestEmulator(), launchBrowser()]);
  pump = await provisionDevice(emulator, 'form-pump');
  pumpClient = await connectDevice(emulator, pump);
  await answerMethods(pumpClient, {
    identify: (payload) => ({ status: 200, payload: { flashed: true, asked: payload } }),
    fail: () => ({ status: 500, payload: { error: 'lamp broken' } }),
  });
  await pumpClient.subscribeAsync('$iothub/twin/PATCH/properties/desired/#', { qos: 0 });
  await pumpClient.subscribeAsync(`devices/${pump.hubDeviceId}/messages/devicebound/#`, { qos: 1 });
  await provisionDevice(emulator, 'form-offline');
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  await Promise.all(clients.splice(0).map((client) => client.endAsync().catch(() => {})));
});
afterAll(async () => {
  await pumpClient?.endAsync().catch(() => {});
  await browser?.close();
  await emulator?.close();
});

/** The portal signed in, on one device, in a context of its own. */
async function deviceOpen(deviceId: string): Promise<Page> {
  const context = await newContext(browser);
  contexts.push(context);
  return openPortalOnDevice(context, emulator, deviceId);
}

/** The text of a result area once it shows `state` (not the "busy" text in between). */
async function result(page: Page, hook: string, state: 'ok' | 'error'): Promise<string> {
  const area = page.locator(`[data-test=${hook}][data-state=${state}]`);
  await area.waitFor();
  return (await area.textContent()) ?? '';
}

describe('desired-properties editor', () => {
  it.each([
    ['', 'Write a JSON object first, e.g. {"interval": 10}.'],
    ['{"interval": ', /^Not valid JSON: /],
    ['[1, 2]', 'A merge patch must be a JSON object, e.g. {"interval": 10}.'],
    ['"text"', 'A merge patch must be a JSON object, e.g. {"interval": 10}.'],
    [
      '{"sampling interval": 5}',
      "400 Invalid property name — a property name contains '.', '$', a space or a control character",
    ],
  ])('refuses %j with a clear message beside the form', async (patch, message) => {
    const page = await deviceOpen('form-pump');
    await page.locator('[data-test=desired-patch]').fill(patch);
    await page.locator('[data-test=desired-submit]').click();
    const text = await result(page, 'desired-result', 'error');
    if (typeof message === 'string') expect(text).toBe(message);
    else expect(text).toMatch(message);
  });

  it('sends a patch: the result says so, the twin shows it and the device gets it', async () => {
    const page = await deviceOpen('form-pump');
    const pushed = nextMessage(pumpClient, '$iothub/twin/PATCH/properties/desired/');
    await page.locator('[data-test=desired-patch]').fill('{"interval": 15, "mode": "eco"}');
    await page.locator('[data-test=desired-submit]').click();
    expect(await result(page, 'desired-result', 'ok')).toMatch(
      /^Desired properties are now \$version \d+, sent to the device\.$/,
    );
    expect(JSON.parse((await pushed).payload.toString())).toMatchObject({ interval: 15, mode: 'eco' });
    await expect
      .poll(async () => JSON.parse((await page.locator('[data-test=twin-desired]').textContent()) ?? '{}'))
      .toMatchObject({ interval: 15, mode: 'eco' });
  });
});

describe('direct method form', () => {
  const call = async (page: Page, name: string, payload = '', timeout = '30') => {
    await page.locator('[data-test=method-name]').fill(name);
    await page.locator('[data-test=method-payload]').fill(payload);
    await page.locator('[data-test=method-timeout]').fill(timeout);
    await page.locator('[data-test=method-submit]').click();
  };

  it('shows the response of a method that answers', async () => {
    const page = await deviceOpen('form-pump');
    await call(page, 'identify', '{"seconds": 3}');
    expect(await result(page, 'method-status', 'ok')).toBe('identify answered with status 200.');
    const response = page.locator('[data-test=method-result] [data-test=method-response]');
    expect(JSON.parse((await response.textContent())!)).toEqual({
      status: 200,
      payload: { flashed: true, asked: { seconds: 3 } },
    });
  });

  it('shows an error status the device answered with as an error, with its payload', async () => {
    const page = await deviceOpen('form-pump');
    await call(page, 'fail');
    expect(await result(page, 'method-status', 'error')).toBe('fail answered with status 500.');
    expect(await page.locator('[data-test=method-response]').textContent()).toContain('lamp broken');
  });

  it('says when the device does not answer in time', async () => {
    const page = await deviceOpen('form-pump');
    await call(page, 'unanswered', '', '1');
    expect(await result(page, 'method-status', 'error')).toMatch(
      /^No answer to unanswered within 1 s \(504 Method timed out — device form-pump did not answer unanswered in 1000 ms\)\.$/,
    );
    expect(await page.locator('[data-test=method-response]').isHidden()).toBe(true);
  });

  it('says when the device is offline', async () => {
    const page = await deviceOpen('form-offline');
    await call(page, 'identify');
    expect(await result(page, 'method-status', 'error')).toBe(
      'The device is offline or does not listen for methods (404 Device not connected — device form-offline is not connected or not listening for methods).',
    );
  });

  it.each([
    ['', '', '30', 'Give the name of the method to call.'],
    ['identify', '{oops', '30', /^The payload is not valid JSON: /],
    ['identify', '', '0', 'The timeout is a number of seconds from 1 to 300.'],
    ['identify', '', '301', 'The timeout is a number of seconds from 1 to 300.'],
  ])('refuses name %j, payload %j, timeout %j before calling', async (name, payload, timeout, message) => {
    const page = await deviceOpen('form-pump');
    await call(page, name, payload, timeout);
    const text = await result(page, 'method-status', 'error');
    if (typeof message === 'string') expect(text).toBe(message);
    else expect(text).toMatch(message);
  });
});

describe('cloud-to-device form', () => {
  it('sends a message with properties: it shows as queued, then delivered', async () => {
    const page = await deviceOpen('form-pump');
    const arrived = nextMessage(pumpClient, `devices/${pump.hubDeviceId}/messages/devicebound/`);
    await page.locator('[data-test=c2d-body]').fill('blink twice');
    await page.locator('[data-test=c2d-properties]').fill('command=blink\n\n color = red ');
    await page.locator('[data-test=c2d-submit]').click();
    expect(await result(page, 'c2d-result', 'ok')).toMatch(/^(Sent|Queued) \(mid [\w-]+\)/);
    const message = await arrived;
    expect(message.payload.toString()).toBe('blink twice');
    expect(message.topic).toContain('command=blink');
    expect(message.topic).toContain('color=red');
    const row = page.locator('[data-test=c2d-message][data-state=delivered]');
    await row.waitFor();
    expect(await row.locator('[data-test=c2d-message-body]').textContent()).toBe('blink twice');
    expect(await row.locator('[data-test=c2d-message-properties]').textContent()).toBe(
      'commandblinkcolorred',
    );
  });

  it('queues for an offline device and says so', async () => {
    const page = await deviceOpen('form-offline');
    await page.locator('[data-test=c2d-body]').fill('later');
    await page.locator('[data-test=c2d-submit]').click();
    expect(await result(page, 'c2d-result', 'ok')).toMatch(
      /^Queued \(mid [\w-]+\) until the device connects\.$/,
    );
    await page.locator('[data-test=c2d-message][data-state=queued]').waitFor();
  });

  it('refuses a property line that is not key=value', async () => {
    const page = await deviceOpen('form-pump');
    await page.locator('[data-test=c2d-properties]').fill('ok=1\njust text');
    await page.locator('[data-test=c2d-submit]').click();
    expect(await result(page, 'c2d-result', 'error')).toBe('Property line 2 is not key=value: just text');
  });

  it('says the device does not exist when a link opened an unknown one', async () => {
    const page = await deviceOpen('ghost');
    await expect
      .poll(() => page.locator('[data-test=device-panel-state]').textContent())
      .toBe('not registered in this workspace');
    expect(await result(page, 'twin-status', 'error')).toBe('Could not load the twin: 404 Device not found');
    await page.locator('[data-test=c2d-body]').fill('hello?');
    await page.locator('[data-test=c2d-submit]').click();
    expect(await result(page, 'c2d-result', 'error')).toBe('404 Device not found');
  });
});

describe('uploaded files', () => {
  it('appear live and download with the API token (a browser download)', async () => {
    const page = await deviceOpen('form-pump');
    await uploadFile(emulator, pump, 'dumps/core.bin', new Uint8Array([0, 1, 2, 250, 255]));
    const row = page.locator('[data-test=file][data-file-name="dumps/core.bin"]');
    await row.waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('[data-test=file-download]').click(),
    ]);
    expect(download.suggestedFilename()).toBe('core.bin');
    const stream = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect([...Buffer.concat(chunks)]).toEqual([0, 1, 2, 250, 255]);
    expect(await row.locator('[data-test=file-error]').textContent()).toBe('');
  });
});

describe('nothing from the API is inserted as HTML', () => {
  const markup = (n: number) => `<img src=x onerror="window.__xss=${n};alert(${n})">`;

  it('shows device ids, streams, batch ids, payloads, properties, C2D bodies, file names, twins and method answers as text', async () => {
    const deviceId = `evil'(alert)=1`;
    const evil = await provisionDevice(emulator, deviceId);
    const client = await connectDevice(emulator, evil);
    clients.push(client);
    await answerMethods(client, { identify: () => ({ status: 200, payload: { note: markup(9) } }) });
    await client.subscribeAsync(`devices/${evil.hubDeviceId}/messages/devicebound/#`, { qos: 1 });

    const page = await deviceOpen(deviceId);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });

    await sendTelemetry(
      client,
      evil,
      { 'stream-name': markup(1), 'batch-id': markup(2), [markup(3)]: markup(4) },
      `${markup(5)}<script>window.__xss=6</script>`,
    );
    await client.publishAsync(
      '$iothub/twin/PATCH/properties/reported/?$rid=1',
      JSON.stringify({ note: markup(7) }),
    );
    await uploadFile(emulator, evil, `${markup(8).replaceAll('/', '')}.txt`, 'x');
    await page.locator('[data-test=c2d-body]').fill(markup(10));
    await page.locator('[data-test=c2d-properties]').fill(`k=${markup(11)}`);
    await page.locator('[data-test=c2d-submit]').click();
    await page.locator('[data-test=method-name]').fill('identify');
    await page.locator('[data-test=method-submit]').click();
    await page.locator('[data-test=method-status][data-state=ok]').waitFor();
    await page.locator('[data-test=method-name]').fill(markup(12));
    await page.locator('[data-test=method-timeout]').fill('1');
    await page.locator('[data-test=method-submit]').click();
    await page.locator('[data-test=method-status][data-state=error]').waitFor();

    const message = page.locator('[data-test=message]').first();
    await message.waitFor();
    expect(await message.getAttribute('data-stream')).toBe(markup(1));
    expect(await message.getAttribute('data-batch-id')).toBe(markup(2));
    expect(await message.locator('[data-test=message-payload]').textContent()).toBe(
      `${markup(5)}<script>window.__xss=6</script>`,
    );
    await message.click();
    expect(await page.locator('[data-test=message-properties]').textContent()).toContain(
      `${markup(3)}${markup(4)}`,
    );
    expect(await page.locator('[data-test=message-detail-payload]').textContent()).toContain(markup(5));
    await page.locator('[data-test=batch]').first().waitFor();
    expect(await page.locator('[data-test=batch]').first().getAttribute('data-batch-id')).toBe(markup(2));
    await page.locator('[data-test=twin-reported]').filter({ hasText: 'note' }).waitFor();
    expect(JSON.parse((await page.locator('[data-test=twin-reported]').textContent())!)).toEqual({
      note: markup(7),
    });
    await page.locator('[data-test=file]').waitFor();
    expect(await page.locator('[data-test=file] .name').textContent()).toBe(
      `${markup(8).replaceAll('/', '')}.txt`,
    );
    expect(await page.locator('[data-test=c2d-message-body]').first().textContent()).toBe(markup(10));
    expect(await page.locator('[data-test=c2d-message-properties]').first().textContent()).toBe(
      `k${markup(11)}`,
    );
    expect(await page.locator('[data-test=method-status]').textContent()).toContain(markup(12));
    expect(await page.locator('#device-name').textContent()).toBe(deviceId);
    const row = page.locator('[data-test=device]').filter({ hasText: deviceId });
    expect(await row.getAttribute('data-device-id')).toBe(deviceId);

    // No element was made from the markup, no handler ran, no dialog opened.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(dialogs).toEqual([]);
  });
});
