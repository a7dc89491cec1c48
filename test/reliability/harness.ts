/**
 * The reliability suite's parts: the emulator as a real child process (so it can be SIGKILLed and restarted on
 * its data directory), reached by devices through the fault proxy, and the figures every fault case reports,
 * counted on the emulator: enqueued (resolved), received (distinct ids), lost, duplicates, time to recover.
 *
 * How the device is routed through the proxy: the emulator listens on 127.0.0.1:PORT and is told that devices
 * reach it as `127.0.0.2` (`--public-host`), so the instance URL and the register response's `iotHubHostName`
 * both say 127.0.0.2:PORT; the proxy listens there (all of 127.0.0.0/8 is loopback on Linux) and forwards to
 * 127.0.0.1:PORT. HTTP, MQTT, TLS and WebSockets all take that one path. The test talks to the management API on
 * 127.0.0.1 directly, so counting never goes through a fault.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import type { StartOptions } from '../../src/options.js';
import { memoryLogger } from '../helpers/client.js';
import { FaultProxy } from './fault-proxy.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'emulator', 'cli.js');

/** The address devices use; the proxy listens on it. */
export const proxyHost = '127.0.0.2';

export interface EmulatorProcess {
  child: ChildProcess;
  instance: string;
  port: number;
  workspaceId: string;
  provisioningToken: string;
  apiToken: string;
  ca: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

export interface EmulatorProcessOptions {
  dataDir: string;
  /** 0 picks a free port (the first start); a restart passes the port it had. */
  port?: number;
  tls?: boolean;
  /** Identity kept across restarts comes from the data directory; these fix it on the first start. */
  extraArgs?: string[];
}

/** Starts `spotflow-emulator` (compiled) and waits for its one JSON line. */
export async function startEmulatorProcess(options: EmulatorProcessOptions): Promise<EmulatorProcess> {
  if (!existsSync(cli))
    throw new Error('the reliability suite runs the compiled emulator: run `npm run build` first');
  const args = [
    cli,
    '--port',
    String(options.port ?? 0),
    '--data-dir',
    options.dataDir,
    '--public-host',
    proxyHost,
    '--auto-approve',
    '--json',
    '--log-level',
    'error',
    ...(options.tls ? ['--tls'] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await Promise.race([
    new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve)),
    exited.then(() => {
      throw new Error(`the emulator exited before it was ready: ${stderr}`);
    }),
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`the emulator was not ready within 20 s: ${stderr}`)),
        20_000,
      ).unref(),
    ),
  ]);
  const ready = JSON.parse(line) as {
    instance: string;
    provisioningToken: string;
    workspaceId: string;
    apiToken: string;
    caFile: string;
  };
  return {
    child,
    instance: ready.instance,
    port: Number(new URL(ready.instance).port),
    workspaceId: ready.workspaceId,
    provisioningToken: ready.provisioningToken,
    apiToken: ready.apiToken,
    ca: readFileSync(ready.caFile, 'utf8'),
    exited,
  };
}

/** Stops the emulator child (SIGKILL when asked) and waits until it has gone. */
export async function stopEmulatorProcess(emulator: EmulatorProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (emulator.child.exitCode === null && emulator.child.signalCode === null) emulator.child.kill(signal);
  await emulator.exited;
}

/** One call to the management API, straight to 127.0.0.1 (never through the proxy). */
export async function management<T = any>(
  emulator: EmulatorProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(
    `http://127.0.0.1:${emulator.port}/workspaces/${emulator.workspaceId}${path}`,
    {
      method,
      headers: { authorization: `Bearer ${emulator.apiToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
  );
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Every telemetry message the emulator stored for the device: its `$.mid`s, in arrival order. */
export async function storedMids(emulator: EmulatorProcess, deviceId: string): Promise<string[]> {
  const mids: string[] = [];
  let after = 0;
  for (;;) {
    const page = await management<{ items: { mid: string | null; sequence: number }[]; next: number | null }>(
      emulator,
      'GET',
      `/devices/${encodeURIComponent(deviceId)}/messages?limit=1000&after=${after}`,
    );
    for (const item of page.items) if (item.mid !== null) mids.push(item.mid);
    if (page.next === null) return mids;
    after = page.next;
  }
}

/** Starts the proxy in front of an emulator process (on 127.0.0.2 and the emulator's port). */
export function proxyFor(emulator: EmulatorProcess): Promise<FaultProxy> {
  return FaultProxy.start({
    listenHost: proxyHost,
    listenPort: emulator.port,
    targetHost: '127.0.0.1',
    targetPort: emulator.port,
  });
}

export type Transport = 'tcp' | 'tls' | 'wss';

/** A device client (in this process) reaching the emulator through the proxy over `transport`. */
export function startDevice(
  emulator: EmulatorProcess,
  transport: Transport,
  options: Partial<StartOptions> & { database: string; deviceId: string },
): Promise<DeviceClient> {
  return DeviceClient.startOn(createNodePlatform({ ca: emulator.ca }), {
    provisioningToken: emulator.provisioningToken,
    instance: emulator.instance,
    transport: transport === 'wss' ? 'websocket' : 'tcp',
    logger: memoryLogger(),
    provisioningPollIntervalMs: 100,
    onProvisioningOperation: () => {},
    ...options,
  });
}

/** Resolves when `probe` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Enqueues messages at a steady rate and follows their acknowledgements: which were enqueued (resolved), which the
 * hub acknowledged, and when every message enqueued before a moment (the end of a fault) had been acknowledged.
 */
export class Workload {
  readonly enqueued: { mid: string; at: number }[] = [];
  readonly #unacked = new Set<string>();
  /** Every id the hub acknowledged (an acknowledgement may come before its enqueue's continuation runs). */
  readonly #ackedIds = new Set<string>();
  #running = false;
  #loop: Promise<void> | undefined;
  #errors: unknown[] = [];
  /** Messages enqueued up to the fault's end that still wait for their PUBACK. */
  #backlog: Set<string> | undefined;
  #backlogDrainedAt: number | undefined;
  #faultEndedAt: number | undefined;
  #firstAckAfterFault: number | undefined;
  readonly #off: () => void;

  constructor(
    private readonly client: DeviceClient,
    private readonly ratePerSecond: number,
    private readonly payloadBytes = 512,
  ) {
    this.#off = client.on('messageSent', ({ id }) => {
      this.#ackedIds.add(id);
      this.#unacked.delete(id);
      if (this.#faultEndedAt !== undefined) this.#firstAckAfterFault ??= performance.now();
      if (this.#backlog?.delete(id) && this.#backlog.size === 0) this.#backlogDrainedAt ??= performance.now();
    });
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Marks the end of the fault: from now on the time to recover runs. */
  faultEnded(): void {
    this.#faultEndedAt = performance.now();
    this.#backlog = new Set(this.#unacked);
    if (this.#backlog.size === 0) this.#backlogDrainedAt = this.#faultEndedAt;
  }

  /** Stops enqueueing (waiting for the enqueues in progress). */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    if (this.#errors.length > 0) throw this.#errors[0];
  }

  /** Stops following acknowledgements. */
  dispose(): void {
    this.#off();
  }

  /** Time from the fault's end until every message enqueued before it was acknowledged, in ms. */
  get recoveryMs(): number | undefined {
    if (this.#faultEndedAt === undefined || this.#backlogDrainedAt === undefined) return undefined;
    return this.#backlogDrainedAt - this.#faultEndedAt;
  }

  /** Time from the fault's end until the first acknowledgement after it, in ms. */
  get resumeMs(): number | undefined {
    if (this.#faultEndedAt === undefined || this.#firstAckAfterFault === undefined) return undefined;
    return this.#firstAckAfterFault - this.#faultEndedAt;
  }

  /** Messages the hub acknowledged so far. */
  get acknowledged(): number {
    return this.#ackedIds.size;
  }

  get unacknowledged(): number {
    return this.#unacked.size;
  }

  async #run(): Promise<void> {
    const interval = 1000 / this.ratePerSecond;
    const started = performance.now();
    const filler = 'x'.repeat(this.payloadBytes);
    for (let n = 0; this.#running; n++) {
      const due = started + n * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        const { id } = await this.client.enqueueMessage({ n, filler }, { stream: 'reliability' });
        this.enqueued.push({ mid: id, at: performance.now() });
        if (!this.#ackedIds.has(id)) this.#unacked.add(id);
      } catch (error) {
        this.#errors.push(error);
        return;
      }
    }
  }
}

export interface Figures {
  fault: string;
  transport: string;
  enqueued: number;
  received: number;
  lost: number;
  duplicates: number;
  /** ms from the fault's end until everything enqueued before it was acknowledged (`> N` when not within N). */
  recoveryMs: number | string | undefined;
  /** ms from the fault's end until the first acknowledgement after it. */
  resumeMs: number | undefined;
  [extra: string]: unknown;
}

/** Counts the workload's messages on the emulator. */
export async function count(
  emulator: EmulatorProcess,
  deviceId: string,
  workload: Workload,
  label: { fault: string; transport: string },
): Promise<Figures> {
  const stored = await storedMids(emulator, deviceId);
  const enqueued = new Set(workload.enqueued.map((e) => e.mid));
  const ours = stored.filter((mid) => enqueued.has(mid));
  const distinct = new Set(ours);
  return {
    ...label,
    enqueued: enqueued.size,
    received: distinct.size,
    lost: [...enqueued].filter((mid) => !distinct.has(mid)).length,
    duplicates: ours.length - distinct.size,
    recoveryMs: workload.recoveryMs === undefined ? undefined : Math.round(workload.recoveryMs),
    resumeMs: workload.resumeMs === undefined ? undefined : Math.round(workload.resumeMs),
  };
}

/** Prints the figures (and appends them to $SPOTFLOW_RELIABILITY_REPORT as a JSON line, when set). */
export function report(figures: Figures): void {
  console.log(`[reliability] ${JSON.stringify(figures)}`);
  const file = process.env.SPOTFLOW_RELIABILITY_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}
