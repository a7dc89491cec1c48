/**
 * Helpers for the provisioning and credentials integration tests: display callbacks that record (and optionally
 * approve) provisioning operations, the emulator's operation list, an emulator logger whose lines tests count,
 * and a peek at the registration a running client keeps in its database.
 */
import BetterSqlite3 from 'better-sqlite3';
import type { EmulatorLogger } from '../../emulator/index.js';
import type { DeviceClient } from '../../src/client.js';
import { isSpotflowError, type SpotflowErrorCode } from '../../src/errors.js';
import type { ProvisioningOperation } from '../../src/options.js';
import type { StoredRegistration } from '../../src/provisioning/token-handler.js';
import { eventOnce } from './client.js';
import { waitFor } from './device-mqtt.js';
import type { TestEmulator } from './emulator.js';

export interface EmulatorOperation {
  provisioningOperationId: string;
  deviceId: string;
  verificationCode: string;
  expirationTime: string;
  status: string;
}

/** The emulator's provisioning operations (all, or those with `status`), oldest first. */
export async function operations(emulator: TestEmulator, status?: string): Promise<EmulatorOperation[]> {
  const result = await emulator.api.request(
    'GET',
    `/provisioning-operations${status ? `?status=${status}` : ''}`,
  );
  if (result.status !== 200) throw new Error(`provisioning-operations: ${result.status}`);
  return result.body as EmulatorOperation[];
}

/** A display callback that records every operation; the test approves or cancels them itself. */
export function display() {
  const seen: ProvisioningOperation[] = [];
  return {
    seen,
    onProvisioningOperation: (op: ProvisioningOperation) => {
      seen.push(op);
    },
    /** Operation number `index` (0-based), once the client has shown it. */
    nth(index: number, timeoutMs = 5000): Promise<ProvisioningOperation> {
      return waitFor(() => seen[index], timeoutMs);
    },
  };
}

/** A display callback that approves every operation through the management API as soon as it is shown. */
export function approving(emulator: TestEmulator) {
  const seen: ProvisioningOperation[] = [];
  return {
    seen,
    onProvisioningOperation: async (op: ProvisioningOperation) => {
      seen.push(op);
      const result = await emulator.api.approve(op.id);
      if (result.status !== 200) throw new Error(`approve: ${result.status}`);
    },
  };
}

/** The error `promise` rejects with; a client that started by mistake is closed and the call fails. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    return error;
  }
  await (value as Partial<DeviceClient> | undefined)?.close?.();
  throw new Error('expected a rejection, but the call resolved');
}

/** Throws unless `error` is a SpotflowError with `code` (naming what it was instead). */
export function assertCode(error: unknown, code: SpotflowErrorCode): void {
  if (isSpotflowError(error, code)) return;
  const described = isSpotflowError(error) ? `${error.code}: ${error.message}` : String(error);
  throw new Error(`expected a SpotflowError ${code}, got ${described}`);
}

/** Resolves once the client is connected to the hub. */
export async function connected(client: DeviceClient, timeoutMs = 10_000): Promise<void> {
  if (!client.connected) await eventOnce(client, 'connected', timeoutMs);
}

export function decodedPayload(item: { payloadBase64: string }): unknown {
  return JSON.parse(Buffer.from(item.payloadBase64, 'base64').toString('utf8'));
}

export interface LogEntry {
  at: number;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * An emulator logger that keeps every line, with the time it was written (by `now`: the emulator's clock when a test
 * gives it one), for tests to count.
 */
export function recordingLogger(now: () => number = Date.now): EmulatorLogger & {
  entries: LogEntry[];
  count(message: string, match?: (fields: Record<string, unknown>) => boolean, since?: number): number;
} {
  const entries: LogEntry[] = [];
  const push = (message: string, fields: Record<string, unknown> = {}) => {
    entries.push({ at: now(), message, fields });
  };
  return {
    entries,
    debug: push,
    info: push,
    warn: push,
    error: push,
    count: (message, match = () => true, since = 0) =>
      entries.filter((entry) => entry.message === message && entry.at >= since && match(entry.fields)).length,
  };
}

/** `PUT /devices/register` calls the emulator refused (401 for a revoked or expired token, 423...). */
export const refusedRegister = (fields: Record<string, unknown>) => fields.path === '/devices/register';

/**
 * The registration a running client keeps in its database, read through a separate read-only connection
 * (SQLite WAL lets a reader in beside the owner), so a test can see which registration token it holds.
 */
export function storedRegistration(database: string): StoredRegistration | undefined {
  const db = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM state WHERE key = 'registration'").get() as
      | { value: string }
      | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as StoredRegistration);
  } finally {
    db.close();
  }
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
