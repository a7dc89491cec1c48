/**
 * The kiosk's configuration: `./config.json`, served next to the built kiosk by whoever serves it (npm start, a
 * kiosk's web server). The provisioning token lives only there, never in the bundle.
 */
import { errorText } from './dom.js';
import type { FrameView } from './view.js';

export interface KioskConfig {
  /** The platform instance (the emulator's `instance`, or e.g. `https://api.eu1.spotflow.io`). */
  instance: string;
  provisioningToken: string;
  /** The portal where a technician approves the device; its fragment (which may hold a token) is never shown. */
  portalUrl: string;
  /** Default 'kiosk-1'. */
  deviceId: string;
  /** The name of the SDK's database that holds the device's state. Default 'spotflow-kiosk'. */
  database: string;
}

export const defaultDeviceId = 'kiosk-1';
export const defaultDatabase = 'spotflow-kiosk';

const shape =
  '{ "instance": string, "provisioningToken": string, "portalUrl": string, "deviceId"?: string, "database"?: string }';

/** A missing or bad config.json: the message says what is wrong and what the file must hold. */
export class KioskConfigError extends Error {
  override name = 'KioskConfigError';
}

/**
 * {@link loadConfig} for a page: a missing or bad config.json is shown on `frame` (offline, a notice titled `title`
 * with a "Try again" button that runs `retry`, the error) and gives `undefined`.
 */
export async function loadConfigShown(
  frame: FrameView,
  title: string,
  retry: () => void,
): Promise<KioskConfig | undefined> {
  try {
    return await loadConfig();
  } catch (error) {
    frame.setConnection('offline');
    frame.showNotice(title, errorText(error), { label: 'Try again', run: retry });
    frame.showError(error);
    return undefined;
  }
}

export async function loadConfig(url = './config.json'): Promise<KioskConfig> {
  const where = new URL(url, document.baseURI).href;
  let response: Response;
  try {
    response = await fetch(where, { cache: 'no-store' });
  } catch (error) {
    throw new KioskConfigError(`Cannot fetch ${where}: ${(error as Error).message}`);
  }
  if (!response.ok) {
    throw new KioskConfigError(
      `No configuration: ${where} answered HTTP ${response.status}. Serve a config.json next to the kiosk holding ${shape}.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await response.text());
  } catch {
    throw new KioskConfigError(`${where} is not valid JSON. It must hold ${shape}.`);
  }
  return parseConfig(parsed);
}

/** Checks a parsed config.json and fills in the defaults. */
export function parseConfig(value: unknown): KioskConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KioskConfigError(`config.json must hold an object: ${shape}.`);
  }
  const record = value as Record<string, unknown>;
  const instance = requiredString(record, 'instance');
  const provisioningToken = requiredString(record, 'provisioningToken');
  const portalUrl = requiredString(record, 'portalUrl');
  try {
    const parsed = new URL(portalUrl);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new KioskConfigError('config.json: portalUrl must be an http(s) URL.');
  }
  return {
    instance,
    provisioningToken,
    portalUrl,
    deviceId: optionalString(record, 'deviceId') ?? defaultDeviceId,
    database: optionalString(record, 'database') ?? defaultDatabase,
  };
}

function requiredString(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new KioskConfigError(
      `config.json: "${key}" is missing or not a non-empty string. Expected ${shape}.`,
    );
  }
  return value.trim();
}

function optionalString(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new KioskConfigError(`config.json: "${key}", when given, must be a non-empty string.`);
  }
  return value.trim();
}
