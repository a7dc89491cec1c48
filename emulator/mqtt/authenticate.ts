import type { AuthenticateError, Client } from 'aedes';
import { deviceIdFromHubId, type EmulatorContext } from '../context.js';
import { verifySasToken } from './sas.js';

const badCredentials = 4;
const notAuthorized = 5;
const identifierRejected = 2;
const serverUnavailable = 3;

function refuse(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * Checks CONNECT like IoT Hub: client id = hub device id, username = `{host}/{hubDeviceId}/?api-version=…`
 * (extra query parameters, as Microsoft's SDK sends, are fine), password = a valid, unexpired SAS token.
 * Returns the device id, or the CONNACK refusal.
 */
export function authenticateDevice(
  context: EmulatorContext,
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
): { deviceId: string; expiresAt: number } | { error: AuthenticateError } {
  try {
    return check(context, client, username, password);
  } catch (error) {
    // A CONNECT that arrives while the emulator shuts down (its state already closed) is refused like an
    // unavailable hub, not thrown from aedes' callback, where nothing catches it.
    return { error: refuse(serverUnavailable, `the hub is shutting down (${String(error)})`) };
  }
}

function check(
  context: EmulatorContext,
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
): { deviceId: string; expiresAt: number } | { error: AuthenticateError } {
  const deviceId = deviceIdFromHubId(context, client.id);
  if (!deviceId) return { error: refuse(identifierRejected, 'client id is not a device of this workspace') };
  const parts = (username ?? '').split('/');
  if (parts.length < 3 || parts[1] !== client.id || !/[?&]api-version=/.test(parts.slice(2).join('/'))) {
    return { error: refuse(badCredentials, 'username must be {hostName}/{deviceId}/?api-version=…') };
  }
  if (context.workspace.settings.disabled) return { error: refuse(notAuthorized, 'workspace is disabled') };
  const device = context.devices.get(deviceId);
  if (!device) return { error: refuse(notAuthorized, 'device is not registered') };
  const check = verifySasToken(
    password?.toString('utf8') ?? '',
    client.id,
    device.sasKey,
    Math.floor(context.now() / 1000),
  );
  if (check.verdict !== 'valid') return { error: refuse(badCredentials, `SAS token ${check.verdict}`) };
  return { deviceId, expiresAt: check.expiresAt * 1000 };
}

/** The subscriptions a device may make: its own C2D topic and the `$iothub/` twin and method topics. */
export function allowedSubscription(hubId: string, topic: string): boolean {
  return (
    topic === `devices/${hubId}/messages/devicebound/#` ||
    topic === '$iothub/twin/res/#' ||
    topic === '$iothub/twin/PATCH/properties/desired/#' ||
    topic === '$iothub/methods/POST/#'
  );
}
