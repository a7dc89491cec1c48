/**
 * What a test file starts and creates, undone for it: `cleanup(fn)` runs after each test (the last registered first;
 * a failure in one does not stop the others) and `tempDir(prefix)` makes a directory removed after the file's tests.
 * Call `scratch()` once at the top of a test file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

export interface Scratch {
  tempDir(prefix: string): string;
  cleanup(undo: () => unknown): void;
}

export function scratch(): Scratch {
  const dirs: string[] = [];
  const undos: (() => unknown)[] = [];
  afterEach(async () => {
    for (const undo of undos.splice(0).reverse())
      await Promise.resolve()
        .then(undo)
        .catch(() => {});
  });
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup(undo) {
      undos.push(undo);
    },
  };
}
