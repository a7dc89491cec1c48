/**
 * The usual setting of an SDK test file: one in-memory emulator (auto-approving, unless `options` say otherwise)
 * started before the file's tests and stopped after them, and a temporary directory for the devices' databases,
 * removed after them.
 */
import { afterAll, beforeAll } from 'vitest';
import type { EmulatorOptions } from '../../emulator/index.js';
import { tempDir } from './client.js';
import { startTestEmulator, type TestEmulator } from './emulator.js';

export interface TestBed {
  /** The running emulator (from the file's `beforeAll` on). */
  readonly emulator: TestEmulator;
  /** `file(name)`: a path in the file's temporary directory. */
  readonly dirs: ReturnType<typeof tempDir>;
}

export function emulatorPerFile(
  prefix: string,
  options: EmulatorOptions = { settings: { autoApprove: true } },
): TestBed {
  const dirs = tempDir(prefix);
  let emulator: TestEmulator | undefined;
  beforeAll(async () => {
    emulator = await startTestEmulator(options);
  });
  afterAll(async () => {
    await emulator?.close();
    dirs.cleanup();
  });
  return {
    dirs,
    get emulator() {
      if (emulator === undefined) throw new Error('the emulator starts in beforeAll: use it inside a test');
      return emulator;
    },
  };
}
