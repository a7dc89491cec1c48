/**
 * "Durable before resolved" (SPEC §4), shown across a real `kill -9`: a child process running the compiled SDK
 * prints each message id once its enqueue resolved, gets SIGKILLed mid-way, and a new client on the same database
 * must deliver every printed id. Also group commit under 64 concurrent callers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeviceStore } from '../../platform/node/index.js';
import type { DeviceClient } from '../../src/client.js';
import { eventOnce, outboxWriterConfig, startClient, tempDir } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const writerScript = join(root, 'test', 'fixtures', 'outbox-writer.mjs');

interface Stored {
  sequence: number;
  mid: string;
  payloadBase64: string;
  duplicate: boolean;
}

/** One line of the child: a message it was told is durable (for `device`). */
interface Printed {
  writer: number;
  n: number;
  id: string;
  device: string;
}

/**
 * The child runs dist/ (vitest transpiles TypeScript only in its own process). A missing or older-than-source build
 * would test something else than the source, so both fail here, saying what to do.
 */
function checkBuild(): void {
  const missing = ['dist/src/client.js', 'dist/platform/node/index.js'].filter(
    (f) => !existsSync(join(root, f)),
  );
  if (missing.length > 0) {
    throw new Error(
      `durability.test.ts runs the compiled SDK: run \`npm run build\` first (missing ${missing.join(', ')})`,
    );
  }
  const stale: string[] = [];
  for (const folder of ['src', join('platform', 'node')]) {
    for (const entry of readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })) {
      // Declaration files (ambient module types) compile to nothing.
      if (!entry.endsWith('.ts') || entry.endsWith('.test.ts') || entry.endsWith('.d.ts')) continue;
      const source = join(root, folder, entry);
      const compiled = join(root, 'dist', folder, entry.replace(/\.ts$/, '.js'));
      if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
        stale.push(relative(root, source));
      }
    }
  }
  if (stale.length > 0) {
    throw new Error(
      `durability.test.ts runs the compiled SDK, and dist/ is older than ${stale.slice(0, 5).join(', ')}` +
        `${stale.length > 5 ? ` and ${stale.length - 5} more` : ''}: run \`npm run build\` first`,
    );
  }
}

const dirs = tempDir('spotflow-durability-');
const dataDir = dirs.file('emulator');
let emulator: TestEmulator;
let port = 0;
let down = false;
const clients: DeviceClient[] = [];
const children: ChildProcess[] = [];

function startPersistentEmulator(onPort: number): Promise<TestEmulator> {
  return startTestEmulator({ memory: false, dataDir, port: onPort, settings: { autoApprove: true } });
}

beforeAll(async () => {
  emulator = await startPersistentEmulator(0);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const client of clients.splice(0)) await client.close();
  if (down) {
    emulator = await startPersistentEmulator(port);
    down = false;
  }
});
afterAll(async () => {
  await emulator?.close();
  dirs.cleanup();
});

async function stored(deviceId: string): Promise<Stored[]> {
  return (await emulator.api.allMessages(deviceId)) as Stored[];
}

async function started(deviceId: string, database: string): Promise<DeviceClient> {
  const client = await startClient(emulator, { database, deviceId });
  clients.push(client);
  return client;
}

/** Provisions the database, so that the child can start from its stored registration (offline if need be). */
async function provision(deviceId: string, database: string): Promise<void> {
  const client = await startClient(emulator, { database, deviceId });
  try {
    await waitFor(() => client.connected);
  } finally {
    await client.close();
  }
}

/**
 * Runs the writer child until it has printed `lines` ids, then SIGKILLs it; returns what it printed. With `devices`,
 * the child runs those devices on a DeviceStore at `database`.
 */
async function writeThenKill(
  deviceId: string,
  database: string,
  lines: number,
  devices?: string[],
): Promise<Printed[]> {
  checkBuild();
  const config = { ...outboxWriterConfig(emulator, deviceId, database), devices };
  const child = spawn(process.execPath, [writerScript, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  const complete = () =>
    stdout
      .slice(0, stdout.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean);
  try {
    await waitFor(() => complete().length > lines || child.exitCode !== null, 15_000);
  } catch (error) {
    throw new Error(`the writer printed ${complete().length} lines; stderr: ${stderr.slice(0, 2000)}`, {
      cause: error,
    });
  }
  expect(child.exitCode, `the writer exited early; stderr: ${stderr.slice(0, 2000)}`).toBeNull();
  // Mid-way: the writers are still enqueueing when the kernel stops the process.
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const [first, ...rest] = complete();
  expect(first).toBe('started');
  return rest.map((line) => {
    const [writer, n, id, device = deviceId] = line.split(' ');
    return { writer: Number(writer), n: Number(n), id: id!, device };
  });
}

/** Every printed id arrived; each writer's messages arrived first in the order it wrote them; resends flagged. */
async function expectAllArrived(deviceId: string, printed: readonly Printed[]): Promise<Stored[]> {
  const wanted = new Set(printed.map((p) => p.id));
  const items = await waitFor(async () => {
    const all = await stored(deviceId);
    const have = new Set(all.filter((m) => !m.duplicate).map((m) => m.mid));
    return [...wanted].every((id) => have.has(id)) ? all : undefined;
  }, 15_000);
  const first = items.filter((m) => !m.duplicate);
  expect(new Set(first.map((m) => m.mid)).size).toBe(first.length);
  const firstMids = new Set(first.map((m) => m.mid));
  for (const duplicate of items.filter((m) => m.duplicate)) expect(firstMids.has(duplicate.mid)).toBe(true);
  const bodies = first.map((m) => JSON.parse(Buffer.from(m.payloadBase64, 'base64').toString()));
  for (let writer = 0; writer < 4; writer++) {
    const ns = bodies.filter((b) => b.writer === writer).map((b) => b.n as number);
    // Gapless from 0: a message that resolved after its predecessor never overtakes nor replaces it.
    expect(ns).toEqual(ns.map((_, i) => i));
  }
  const byId = new Map(first.map((m, i) => [m.mid, bodies[i]]));
  for (const p of printed) expect(byId.get(p.id)).toEqual({ writer: p.writer, n: p.n });
  return items;
}

describe('durability across kill -9', () => {
  it('delivers every message whose enqueue resolved before a SIGKILL, written while the emulator was down', async () => {
    const deviceId = 'killed-offline';
    const database = dirs.file(`${deviceId}.db`);
    await provision(deviceId, database);
    port = emulator.port;
    down = true;
    await emulator.close();

    const printed = await writeThenKill(deviceId, database, 400);
    expect(printed.length).toBeGreaterThanOrEqual(400);

    emulator = await startPersistentEmulator(port);
    down = false;
    // Nothing could have been sent: the emulator has not seen the device since it was provisioned.
    expect(await stored(deviceId)).toEqual([]);
    const client = await started(deviceId, database);
    await client.waitEnqueuedMessagesSent();
    const items = await expectAllArrived(deviceId, printed);
    expect(items.some((m) => m.duplicate)).toBe(false);
    expect(await client.pendingMessagesCount()).toBe(0);
  });

  it('loses nothing when killed while sending; what is sent again arrives flagged as a duplicate', async () => {
    const deviceId = 'killed-online';
    const database = dirs.file(`${deviceId}.db`);
    await provision(deviceId, database);
    const printed = await writeThenKill(deviceId, database, 1500);
    expect(printed.length).toBeGreaterThanOrEqual(1500);
    // The child was online: part of the stream reached the emulator before the kill.
    expect((await stored(deviceId)).length).toBeGreaterThan(0);

    const client = await started(deviceId, database);
    await client.waitEnqueuedMessagesSent();
    await expectAllArrived(deviceId, printed);
    expect(await client.pendingMessagesCount()).toBe(0);
  });
});

describe('durability across kill -9, devices on a DeviceStore', () => {
  it('loses nothing of three devices killed while sending together; each device gets only its own', async () => {
    const devices = ['killed-store-a', 'killed-store-b', 'killed-store-c'];
    const database = dirs.file('killed-store.db');
    let store = await DeviceStore.open(database);
    try {
      for (const deviceId of devices) {
        const client = await startClient(emulator, { store, deviceId });
        if (!client.connected) await eventOnce(client, 'connected');
        await client.close();
      }
    } finally {
      await store.close();
    }
    const printed = await writeThenKill(devices[0]!, database, 1500, devices);
    for (const deviceId of devices) expect(printed.some((p) => p.device === deviceId)).toBe(true);

    store = await DeviceStore.open(database);
    try {
      const restarted = await Promise.all(
        devices.map((deviceId) => startClient(emulator, { store, deviceId })),
      );
      for (const client of restarted) await client.waitEnqueuedMessagesSent();
      for (const deviceId of devices) {
        await expectAllArrived(
          deviceId,
          printed.filter((p) => p.device === deviceId),
        );
      }
      for (const client of restarted) {
        expect(await client.pendingMessagesCount()).toBe(0);
        await client.close();
      }
    } finally {
      await store.close();
    }
  });
});

describe('group commit', () => {
  it('resolves 64 concurrent enqueueMessage calls and delivers all 64, in call order', async () => {
    const deviceId = 'concurrent-64';
    const client = await started(deviceId, dirs.file(`${deviceId}.db`));
    await waitFor(() => client.connected);
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => client.enqueueMessage({ i }, { stream: 'concurrent' })),
    );
    const ids = results.map((r) => r.id);
    expect(new Set(ids).size).toBe(64);
    await client.waitEnqueuedMessagesSent();
    const items = await stored(deviceId);
    expect(items.map((m) => m.mid)).toEqual(ids);
    expect(items.map((m) => JSON.parse(Buffer.from(m.payloadBase64, 'base64').toString()).i)).toEqual(
      ids.map((_, i) => i),
    );
  });
});
