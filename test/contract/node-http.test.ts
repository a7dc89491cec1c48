import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import ky from 'ky';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateTlsMaterial } from '../../emulator/net/certificates.js';
import { createNodeFetch, trustedCertificates } from '../../platform/node/http.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
let base: string;
/** A CA that signed nothing the emulator serves. */
let wrongCa: string;
const dir = mkdtempSync(join(tmpdir(), 'spotflow-http-'));

beforeAll(async () => {
  emulator = await startTestEmulator();
  base = `https://localhost:${emulator.port}`;
  wrongCa = (await loadOrCreateTlsMaterial(dir)).ca;
});
afterAll(async () => {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
});

function init(fetchFn: typeof fetch, deviceId: string) {
  return fetchFn(`${base}/provisioning-operations/init`, {
    method: 'POST',
    headers: { authorization: `Bearer ${emulator.provisioningToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deviceId }),
  });
}

describe('Node fetch', () => {
  it('is the global fetch when no CA is given', () => {
    expect(createNodeFetch({})).toBe(globalThis.fetch);
    expect(createNodeFetch()).toBe(globalThis.fetch);
  });

  it('adds the CA to the default roots rather than replacing them', () => {
    const trusted = trustedCertificates('-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----');
    expect(trusted).toEqual(expect.arrayContaining([...rootCertificates]));
    expect(trusted.at(-1)).toContain('X');
  });

  it('reaches an HTTPS server signed by the given CA', async () => {
    const response = await init(createNodeFetch({ ca: emulator.ca }), 'http-ca');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ provisioningOperationId: expect.any(String) });
  });

  it('accepts a Request object, body included', async () => {
    const fetchWithCa = createNodeFetch({ ca: emulator.ca });
    const request = new Request(`${base}/provisioning-operations/init`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emulator.provisioningToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'http-request' }),
    });
    const response = await fetchWithCa(request);
    expect(response.status).toBe(200);
  });

  it('verifies certificates: without the CA the request fails', async () => {
    await expect(init(globalThis.fetch, 'no-ca')).rejects.toThrow();
    // Another CA does not help either: TLS verification stays on.
    await expect(init(createNodeFetch({ ca: wrongCa }), 'wrong-ca')).rejects.toThrow();
  });

  it('serves as the fetch of a ky instance', async () => {
    const api = ky.create({ prefixUrl: base, fetch: createNodeFetch({ ca: emulator.ca }), retry: 0 });
    const body = await api
      .post('provisioning-operations/init', {
        headers: { authorization: `Bearer ${emulator.provisioningToken}` },
        json: { deviceId: 'via-ky' },
      })
      .json<{ provisioningOperationId: string; verificationCode: string }>();
    expect(body.provisioningOperationId).toEqual(expect.any(String));
    // Error statuses surface as ky's HTTPError, with the status readable.
    await expect(
      api.post('provisioning-operations/init', { headers: { authorization: 'Bearer wrong' }, json: {} }),
    ).rejects.toMatchObject({ name: 'HTTPError', response: { status: 401 } });
  });

  it('honours an AbortSignal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      createNodeFetch({ ca: emulator.ca })(`${base}/provisioning-operations/init`, {
        method: 'POST',
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});
