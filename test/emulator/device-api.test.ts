import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, provisionDevice, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
const init = (deviceId?: string, token = emulator.provisioningToken) =>
  call(emulator.instance, 'POST', '/provisioning-operations/init', {
    token,
    json: deviceId ? { deviceId } : {},
  });
const complete = (provisioningOperationId: string, token = emulator.provisioningToken) =>
  call(emulator.instance, 'PUT', '/provisioning-operations/complete', {
    token,
    json: { provisioningOperationId },
  });
const register = (registrationToken: string) =>
  call(emulator.instance, 'PUT', '/devices/register', {
    token: registrationToken,
    json: { connectionStringType: 'SharedAccessSignature' },
  });

/** Added to the emulator's clock (its `now` hook): a lifetime passes when a test moves it, not after a sleep. */
let clockOffsetMs = 0;

beforeAll(async () => {
  emulator = await startTestEmulator({ now: () => Date.now() + clockOffsetMs });
});
afterAll(() => emulator.close());

describe('POST /provisioning-operations/init', () => {
  it('starts an operation with a verification code and expiry', async () => {
    const result = await init('init-ok');
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      provisioningOperationId: expect.any(String),
      verificationCode: expect.stringMatching(/^[A-Z0-9]{3}-[A-Z0-9]{3}$/),
      expirationTime: expect.any(String),
    });
    expect(Date.parse(result.body.expirationTime)).toBeGreaterThan(Date.now());
  });

  it('chooses a device id when none is requested', async () => {
    const result = await init();
    expect(result.status).toBe(200);
    const pending = await emulator.api.request('GET', '/provisioning-operations?status=pending');
    const op = pending.body.find(
      (o: any) => o.provisioningOperationId === result.body.provisioningOperationId,
    );
    expect(op.deviceId).toMatch(/^device-[0-9a-f]{8}$/);
  });

  it('refuses a wrong provisioning token with 401 problem details', async () => {
    const result = await init('x', 'wrong');
    expect(result.status).toBe(401);
    expect(result.headers.get('content-type')).toContain('application/problem+json');
    expect(result.body).toMatchObject({ status: 401, title: expect.any(String) });
  });

  it('refuses an invalid device id with 400 and a title', async () => {
    const result = await init('bad/id#');
    expect(result.status).toBe(400);
    expect(result.body.title).toBe('Invalid device ID');
  });

  it('answers 423 while the workspace is disabled', async () => {
    await emulator.api.settings({ disabled: true });
    try {
      expect((await init('disabled-dev')).status).toBe(423);
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });
});

describe('PUT /provisioning-operations/complete', () => {
  it('answers 202 until approved, then a registration token', async () => {
    const op = (await init('complete-ok')).body;
    expect((await complete(op.provisioningOperationId)).status).toBe(202);
    await emulator.api.approve(op.provisioningOperationId);
    const done = await complete(op.provisioningOperationId);
    expect(done.status).toBe(200);
    expect(done.body.registrationToken).toEqual(expect.any(String));
    expect(Date.parse(done.body.expirationTime)).toBeGreaterThan(Date.now());
  });

  it('issues a new token on every poll and the newest invalidates the older ones', async () => {
    const op = (await init('complete-rotate')).body;
    await emulator.api.approve(op.provisioningOperationId);
    const first = (await complete(op.provisioningOperationId)).body.registrationToken;
    const second = (await complete(op.provisioningOperationId)).body.registrationToken;
    expect(second).not.toBe(first);
    expect((await register(first)).status).toBe(401);
    expect((await register(second)).status).toBe(200);
  });

  it('answers 410 with the cancelled problem type after a technician cancels', async () => {
    const op = (await init('complete-cancel')).body;
    const cancel = await emulator.api.request('PUT', '/provisioning-operations/cancel', {
      provisioningOperationId: op.provisioningOperationId,
    });
    expect(cancel.status).toBe(200);
    const result = await complete(op.provisioningOperationId);
    expect(result.status).toBe(410);
    expect(result.body.type).toBe('/problems/deviceProvisioning/provisioningOperationCancelled');
  });

  it('answers 410 with another problem type once the operation expired', async () => {
    await emulator.api.settings({ provisioningOperationLifetimeSeconds: 1 });
    try {
      const op = (await init('complete-expire')).body;
      clockOffsetMs = 1100;
      const result = await complete(op.provisioningOperationId);
      expect(result.status).toBe(410);
      expect(result.body.type).not.toBe('/problems/deviceProvisioning/provisioningOperationCancelled');
    } finally {
      clockOffsetMs = 0;
      await emulator.api.settings({ provisioningOperationLifetimeSeconds: 900 });
    }
  });

  it('answers 423 while the workspace is disabled', async () => {
    const op = (await init('complete-disabled')).body;
    await emulator.api.settings({ disabled: true });
    try {
      expect((await complete(op.provisioningOperationId)).status).toBe(423);
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });

  it('answers 404 for an unknown operation and 401 for a wrong token', async () => {
    expect((await complete('no-such-operation')).status).toBe(404);
    expect((await complete('no-such-operation', 'wrong')).status).toBe(401);
  });
});

describe('PUT /devices/registration-tokens/refresh', () => {
  it('replaces the token; the old one stops working', async () => {
    const device = await provisionDevice(emulator, 'refresh-ok');
    const result = await call(emulator.instance, 'PUT', '/devices/registration-tokens/refresh', {
      token: emulator.provisioningToken,
      json: { registrationToken: device.registrationToken },
    });
    expect(result.status).toBe(200);
    expect(result.body.registrationToken).not.toBe(device.registrationToken);
    expect((await register(device.registrationToken)).status).toBe(401);
    expect((await register(result.body.registrationToken)).status).toBe(200);
  });

  it('answers 423 while disabled and 401 for an unknown registration token', async () => {
    const refresh = (registrationToken: string) =>
      call(emulator.instance, 'PUT', '/devices/registration-tokens/refresh', {
        token: emulator.provisioningToken,
        json: { registrationToken },
      });
    expect((await refresh('rt-unknown')).status).toBe(401);
    await emulator.api.settings({ disabled: true });
    try {
      expect((await refresh('rt-unknown')).status).toBe(423);
    } finally {
      await emulator.api.settings({ disabled: false });
    }
  });
});

describe('PUT /devices/register', () => {
  it('returns a SAS connection string whose DeviceId is workspaceId:deviceId', async () => {
    const device = await provisionDevice(emulator, 'register-ok');
    expect(device.hubDeviceId).toBe(`${emulator.workspaceId}:register-ok`);
    expect(device.iotHubHostName).toBe(`localhost:${emulator.port}`);
    expect(device.connectionString).toMatch(
      /^HostName=localhost:\d+;DeviceId=[^;]+;SharedAccessSignature=SharedAccessSignature sr=[^&]+&sig=[^&]+&se=\d+$/,
    );
  });

  it('reports the expiry of the SAS and the remaining lifetime of the registration token', async () => {
    const device = await provisionDevice(emulator, 'register-lifetimes');
    const result = await register(device.registrationToken);
    expect(result.body.connectionStringType).toBe('SharedAccessSignature');
    const sasExpiry = Date.parse(result.body.connectionStringExpiration);
    expect(sasExpiry).toBeGreaterThan(Date.now() + 3500_000);
    expect(result.body.tokenRemainingLifetime).toMatch(/^PT\d+S$/);
  });

  it('answers 401 for a revoked registration token', async () => {
    const device = await provisionDevice(emulator, 'register-revoked');
    const revoke = await emulator.api.request('DELETE', '/devices/register-revoked/registration-token');
    expect(revoke.body.revoked).toBe(1);
    expect((await register(device.registrationToken)).status).toBe(401);
  });

  it('answers 401 for an expired registration token', async () => {
    await emulator.api.settings({ registrationTokenLifetimeSeconds: 1 });
    try {
      const device = await provisionDevice(emulator, 'register-expired');
      clockOffsetMs = 1100;
      expect((await register(device.registrationToken)).status).toBe(401);
    } finally {
      clockOffsetMs = 0;
      await emulator.api.settings({ registrationTokenLifetimeSeconds: 7 * 86400 });
    }
  });

  it('answers 400 for another connection string type', async () => {
    const device = await provisionDevice(emulator, 'register-type');
    const result = await call(emulator.instance, 'PUT', '/devices/register', {
      token: device.registrationToken,
      json: { connectionStringType: 'X509' },
    });
    expect(result.status).toBe(400);
  });
});

describe('CORS', () => {
  it('answers preflight requests for device routes', async () => {
    const response = await fetch(`${emulator.instance}/provisioning-operations/init`, {
      method: 'OPTIONS',
      headers: { origin: 'http://kiosk.local', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('marks every response, errors included', async () => {
    const result = await init('x', 'wrong');
    expect(result.headers.get('access-control-allow-origin')).toBe('*');
  });

  it("lets a page read the Date header (the platform's time)", async () => {
    const result = await init('x', 'wrong');
    expect(result.headers.get('access-control-expose-headers')?.split(',')).toContain('date');
  });
});

describe('Date header', () => {
  it("tells the emulator's time (its clock, a test's), on answers and refusals alike", async () => {
    clockOffsetMs = 3 * 86_400_000;
    try {
      const device = await provisionDevice(emulator, 'date-header');
      for (const result of [await register(device.registrationToken), await init('x', 'wrong')]) {
        const date = Date.parse(result.headers.get('date') ?? '');
        expect(Math.abs(date - (Date.now() + clockOffsetMs))).toBeLessThan(5000);
      }
    } finally {
      clockOffsetMs = 0;
    }
  });
});
