/**
 * Runs the database, lock and MQTT contract suites (test/contract/, framework-free) against a server runtime's
 * platform, inside that runtime: `bun contract-runner.ts '<config>'`, `deno run -A … contract-runner.ts '<config>'`.
 * Prints one JSON line per case (`{ suite, name, error? }`) and `{ done: true }` last; the vitest file that spawned
 * it (runtimes.ts) turns each line into a test. The emulator runs in that vitest process, on Node; the devices the
 * MQTT cases use are provisioned there too and handed over in the config.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import type { Platform } from '../../src/ports.js';
import { ManagementClient } from '../../testing/management-client.js';
import { type DatabaseContractContext, databaseContract } from '../contract/database-contract.js';
import { type LockContractContext, lockCases } from '../contract/lock-contract.js';
import { type ContractDevice, type MqttContractContext, mqttContract } from '../contract/mqtt-contract.js';

/** What the spawning test passes, as JSON in argv[2]. */
export interface RunnerConfig {
  runtime: 'bun' | 'deno';
  emulator: { port: number; workspaceId: string; apiToken: string; ca: string };
  /** Provisioned devices, one per MQTT case and transport at least. */
  devices: ContractDevice[];
  /** The MQTT transports to run the MQTT suite over. */
  transports: ('mqtt' | 'mqtts')[];
  /** Run the Node entry's platform instead of the runtime's own (its SQLite rule: node-driver.ts). */
  nodeEntry?: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
const platform = config.nodeEntry
  ? (await import('../../platform/node/index.js')).createNodePlatform({ ca: config.emulator.ca })
  : await platformOf(config.runtime, config.emulator.ca);
if (config.nodeEntry) {
  // Which binding the Node entry's rule picked here: reported, and checked by the spawning test.
  const driver = await (await import('../../platform/node/node-driver.js')).loadNodeDriver();
  report('driver', driver.name);
}
const dir = mkdtempSync(join(tmpdir(), `spotflow-${config.runtime}-contracts-`));
let counter = 0;

async function platformOf(runtime: RunnerConfig['runtime'], ca: string): Promise<Platform> {
  if (runtime === 'bun') return (await import('../../platform/bun/index.js')).createBunPlatform({ ca });
  return (await import('../../platform/deno/index.js')).createDenoPlatform({ ca });
}

function report(suite: string, name: string, error?: unknown): void {
  const detail = error === undefined ? {} : { error: error instanceof Error ? error.stack : String(error) };
  process.stdout.write(`${JSON.stringify({ suite, name, ...detail })}\n`);
}

/** Each case's bound (vitest's testTimeout in the Node runs): a case that hangs fails, and the next one runs. */
const CASE_TIMEOUT_MS = 20_000;

function bounded(promise: Promise<void>, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not done within ${CASE_TIMEOUT_MS} ms`)),
      CASE_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs each case with a context made for it and `cleanup` after it, reporting each. */
async function runSuite<Context>(
  suite: string,
  cases: readonly { name: string; run(ctx: Context): Promise<void> }[],
  context: () => { ctx: Context; cleanup(): Promise<void> },
): Promise<void> {
  for (const { name, run } of cases) {
    const { ctx, cleanup } = context();
    try {
      await bounded(run(ctx), `${suite}: ${name}`);
      await cleanup();
      report(suite, name);
    } catch (error) {
      await cleanup().catch(() => {});
      report(suite, name, error);
    }
  }
}

await runSuite<DatabaseContractContext>('database', databaseContract, () => {
  const opened: { close(): Promise<void> }[] = [];
  return {
    ctx: {
      async open(name) {
        const db = await platform.database.open(join(dir, name));
        opened.push(db);
        return db;
      },
      freshName: () => `db-${++counter}.sqlite`,
    },
    cleanup: async () => {
      await Promise.all(opened.splice(0).map((db) => db.close()));
    },
  };
});

await runSuite<LockContractContext>('lock', lockCases(false), () => ({
  ctx: {
    // A lock of the same platform each time: what a second client in this process would get.
    createLock: () => platform.lock,
    supportsWaiting: false,
    freshName: () => join(dir, `lock-${++counter}.db`),
  },
  cleanup: async () => {},
}));

const api = new ManagementClient({
  instance: `http://localhost:${config.emulator.port}`,
  workspaceId: config.emulator.workspaceId,
  apiToken: config.emulator.apiToken,
});
const devices = [...config.devices];

for (const transport of config.transports) {
  await runSuite<MqttContractContext>(`mqtt ${transport}`, mqttContract, () => {
    const connections: { end(force?: boolean): Promise<void> }[] = [];
    return {
      ctx: {
        connector: platform.mqtt,
        url: `${transport}://localhost:${config.emulator.port}`,
        async provision() {
          const device = devices.shift();
          if (device === undefined) throw new Error('the runner ran out of provisioned devices');
          return device;
        },
        async storedMessages(deviceId) {
          return (await api.allMessages(deviceId)).map(({ mid, payload }) => ({ mid, payload }));
        },
        async sendCloudMessage(deviceId, body, properties = {}) {
          await api.sendCloudMessage(deviceId, body, { properties });
        },
        dropConnection: (deviceId) => api.dropConnection(deviceId),
        isConnected: async (deviceId) => (await api.device(deviceId))?.connected === true,
        track: (connection) => connections.push(connection),
      },
      cleanup: async () => {
        await Promise.all(connections.splice(0).map((connection) => connection.end(true)));
      },
    };
  });
}

rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
// MQTT.js keeps timers of ended clients for a moment; the verdict is in, so do not wait for them.
process.exit(0);
