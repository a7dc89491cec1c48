import { describe, expect, it } from 'vitest';
import { isSpotflowError, type SpotflowErrorCode } from '../errors.js';
import {
  HUB_WEBSOCKET_PATH,
  hubEndpoints,
  parseConnectionString,
  parseSasToken,
} from './connection-string.js';

const SIGNATURE = 'c2VjcmV0LXNpZ25hdHVyZS1kby1ub3QtbG9n';
const ENCODED_SIGNATURE = `${SIGNATURE}%2B%2F%3D`;
const sas = (fields = `sr=hub.example.net%2Fdevices%2Fws-1%3Adev-1&sig=${ENCODED_SIGNATURE}&se=1767225600`) =>
  `SharedAccessSignature ${fields}`;
const connectionString = (parts: Partial<Record<string, string>> = {}) =>
  Object.entries({
    HostName: 'hub.example.net',
    DeviceId: 'ws-1:dev-1',
    SharedAccessSignature: sas(),
    ...parts,
  })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`)
    .join(';');

/** Runs `action`, expects a SpotflowError with `code`, and that its message leaks no part of the token. */
function expectSafeError(action: () => unknown, code: SpotflowErrorCode): void {
  try {
    action();
  } catch (error) {
    expect(isSpotflowError(error, code)).toBe(true);
    const message = (error as Error).message;
    expect(message).not.toContain(SIGNATURE);
    expect(message).not.toContain('sig=');
    expect(message).not.toContain('SharedAccessSignature sr');
    return;
  }
  expect.unreachable(`expected a ${code} error`);
}

describe('parseSasToken', () => {
  it('reads sr and sig percent-decoded and se as seconds', () => {
    expect(parseSasToken(sas())).toEqual({
      sr: 'hub.example.net/devices/ws-1:dev-1',
      sig: `${SIGNATURE}+/=`,
      se: 1767225600,
    });
  });

  it('accepts fields in any order and ignores unknown ones', () => {
    expect(parseSasToken(sas(`se=5&skn=device&sig=abc&sr=h%2Fdevices%2Fd`))).toEqual({
      sr: 'h/devices/d',
      sig: 'abc',
      se: 5,
    });
  });

  it('rejects malformed tokens with PROTOCOL and a message without the token', () => {
    const bad = [
      '',
      `sr=a&sig=${ENCODED_SIGNATURE}&se=1`,
      `sharedaccesssignature sr=a&sig=${ENCODED_SIGNATURE}&se=1`,
      sas(`sig=${ENCODED_SIGNATURE}&se=1`),
      sas(`sr=a&se=1`),
      sas(`sr=a&sig=&se=1`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=soon`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=-1`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=1.5`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=1e9`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=9999999999999999`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}%&se=1`),
      sas(`sr=%E0%A4%A&sig=${ENCODED_SIGNATURE}&se=1`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&se=1&sig=${ENCODED_SIGNATURE}`),
      sas(`sr=a&sig=${ENCODED_SIGNATURE}&&se=1`),
      sas(`sr=a&${SIGNATURE}&se=1`),
    ];
    for (const token of bad) expectSafeError(() => parseSasToken(token), 'PROTOCOL');
    expectSafeError(() => parseSasToken(42 as unknown as string), 'PROTOCOL');
  });
});

describe('parseConnectionString', () => {
  it('splits the register response into host, ids, token and expiry', () => {
    expect(parseConnectionString(connectionString())).toEqual({
      hostName: 'hub.example.net',
      hubDeviceId: 'ws-1:dev-1',
      workspaceId: 'ws-1',
      deviceId: 'dev-1',
      sasToken: sas(),
      sasExpiresAt: new Date('2026-01-01T00:00:00Z'),
    });
  });

  it('reads the emulator form: a host with a port, parts in another order, a trailing semicolon', () => {
    const text = `DeviceId=ws:d;SharedAccessSignature=${sas('sr=localhost%3A4321%2Fdevices%2Fws%3Ad&sig=x&se=10')};HostName=localhost:4321;`;
    const parsed = parseConnectionString(text);
    expect(parsed.hostName).toBe('localhost:4321');
    expect(parsed.sasExpiresAt.getTime()).toBe(10_000);
    expect(parsed.sasToken).toBe(sas('sr=localhost%3A4321%2Fdevices%2Fws%3Ad&sig=x&se=10'));
  });

  it('splits DeviceId at the first colon only', () => {
    const parsed = parseConnectionString(connectionString({ DeviceId: 'ws:dev:with:colons' }));
    expect(parsed.workspaceId).toBe('ws');
    expect(parsed.deviceId).toBe('dev:with:colons');
  });

  it('ignores unknown parts such as GatewayHostName', () => {
    expect(parseConnectionString(`${connectionString()};GatewayHostName=edge`).hostName).toBe(
      'hub.example.net',
    );
  });

  it('accepts IPv4 and bracketed IPv6 hosts', () => {
    expect(parseConnectionString(connectionString({ HostName: '127.0.0.1:8883' })).hostName).toBe(
      '127.0.0.1:8883',
    );
    expect(parseConnectionString(connectionString({ HostName: '[::1]:9000' })).hostName).toBe('[::1]:9000');
  });

  it('rejects missing or malformed parts with PROTOCOL, never quoting the token', () => {
    const bad = [
      '',
      'garbage',
      connectionString({ HostName: undefined }),
      connectionString({ DeviceId: undefined }),
      connectionString({ SharedAccessSignature: undefined }),
      connectionString({ HostName: '' }),
      connectionString({ HostName: 'evil.example/path?' }),
      connectionString({ HostName: 'user@host' }),
      connectionString({ HostName: 'host name' }),
      connectionString({ HostName: 'host:0' }),
      connectionString({ HostName: 'host:65536' }),
      connectionString({ HostName: 'host:' }),
      connectionString({ HostName: '-host' }),
      connectionString({ DeviceId: 'no-colon' }),
      connectionString({ DeviceId: ':dev' }),
      connectionString({ DeviceId: 'ws:' }),
      connectionString({ DeviceId: 'ws:dev/../x' }),
      connectionString({ DeviceId: 'ws:dev/#' }),
      connectionString({ DeviceId: 'ws:a+b' }),
      connectionString({ DeviceId: 'ws:a b' }),
      connectionString({ DeviceId: 'ws:a\u0000' }),
      connectionString({ DeviceId: 'ws:a%2F' }),
      connectionString({ SharedAccessSignature: `sr=x&sig=${ENCODED_SIGNATURE}&se=1` }),
      connectionString({ SharedAccessSignature: sas(`sr=x&sig=${ENCODED_SIGNATURE}&se=never`) }),
      `${connectionString()};HostName=other`,
      `${connectionString()};=orphan`,
      `${connectionString()};${SIGNATURE}`,
    ];
    for (const text of bad) expectSafeError(() => parseConnectionString(text), 'PROTOCOL');
    expectSafeError(() => parseConnectionString(undefined as unknown as string), 'PROTOCOL');
  });
});

describe('hubEndpoints', () => {
  it('uses the real hub defaults when the host name has no port, whatever the instance scheme', () => {
    for (const instance of ['https://api.eu1.spotflow.io', 'http://localhost:8080']) {
      expect(hubEndpoints('hub.azure-devices.net', instance)).toEqual({
        mqttUrl: 'mqtts://hub.azure-devices.net:8883',
        webSocketUrl: 'wss://hub.azure-devices.net/$iothub/websocket',
        httpsBase: 'https://hub.azure-devices.net',
        secure: true,
      });
    }
    const ws = new URL(hubEndpoints('hub.azure-devices.net', 'https://x').webSocketUrl);
    expect(ws.port).toBe(''); // the default, 443
    expect(ws.pathname).toBe(HUB_WEBSOCKET_PATH);
  });

  it('uses the host name port for everything and the instance scheme for TLS (https)', () => {
    expect(hubEndpoints('localhost:4443', 'https://localhost:4443')).toEqual({
      mqttUrl: 'mqtts://localhost:4443',
      webSocketUrl: 'wss://localhost:4443/$iothub/websocket',
      httpsBase: 'https://localhost:4443',
      secure: true,
    });
  });

  it('uses the host name port for everything and the instance scheme for TLS (http)', () => {
    expect(hubEndpoints('localhost:5000', 'http://127.0.0.1:5000/')).toEqual({
      mqttUrl: 'mqtt://localhost:5000',
      webSocketUrl: 'ws://localhost:5000/$iothub/websocket',
      httpsBase: 'http://localhost:5000',
      secure: false,
    });
  });

  it('keeps IPv6 brackets so the URLs parse', () => {
    const endpoints = hubEndpoints('[::1]:5000', 'http://[::1]:5000');
    expect(new URL(endpoints.webSocketUrl).host).toBe('[::1]:5000');
    expect(new URL(endpoints.httpsBase).port).toBe('5000');
  });

  it('rejects a malformed host name with PROTOCOL and a bad instance URL with INVALID_ARGUMENT', () => {
    expectSafeError(() => hubEndpoints('host/path', 'https://x'), 'PROTOCOL');
    expectSafeError(() => hubEndpoints('host:99999', 'https://x'), 'PROTOCOL');
    expectSafeError(() => hubEndpoints('localhost:1', 'not a url'), 'INVALID_ARGUMENT');
    expectSafeError(() => hubEndpoints('localhost:1', 'ftp://localhost'), 'INVALID_ARGUMENT');
  });
});
