/**
 * The usual setting of a fault-suite file: an emulator process with its data in a temporary directory, behind a
 * fault proxy, started before the file's tests and stopped (directory removed) after them. (Not in harness.ts, which
 * the soak also runs outside vitest.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { FaultProxy } from './fault-proxy.js';
import { type EmulatorProcess, proxyFor, startEmulatorProcess, stopEmulatorProcess } from './harness.js';

export interface ProxiedEmulator {
  /** The file's temporary directory (the emulator's data is in `emulator/` below it). */
  readonly dataDir: string;
  readonly emulator: EmulatorProcess;
  readonly proxy: FaultProxy;
}

export function proxiedEmulatorPerFile(name: string, options: { tls?: boolean } = {}): ProxiedEmulator {
  const dataDir = mkdtempSync(join(tmpdir(), `spotflow-reliability-${name}-`));
  let emulator: EmulatorProcess | undefined;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    emulator = await startEmulatorProcess({ dataDir: join(dataDir, 'emulator'), tls: options.tls });
    proxy = await proxyFor(emulator);
  });
  afterAll(async () => {
    await proxy?.close();
    if (emulator) await stopEmulatorProcess(emulator);
    rmSync(dataDir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the emulator starts in beforeAll: use it inside a test');
    return value;
  };
  return {
    dataDir,
    get emulator() {
      return started(emulator);
    },
    get proxy() {
      return started(proxy);
    },
  };
}
