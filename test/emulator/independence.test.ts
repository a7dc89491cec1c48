/**
 * The emulator stands in for the real platform, so it must not borrow the SDK's code: a wrong rule in the core
 * would then be accepted by the emulator too, and no integration test could see it. This reads every source file
 * under emulator/ and refuses any import that reaches into the SDK (src/ or platform/).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const sdkFolders = ['src', 'platform'].map((folder) => join(root, folder));

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|tsx|js|mjs|cjs|vue|html)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => !file.includes(`${join('node_modules', '')}`));
}

/** Relative specifiers of static imports, re-exports, dynamic imports and requires. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1]!);
  return found.filter((specifier) => specifier.startsWith('.') || specifier.startsWith('/'));
}

describe('emulator independence', () => {
  it('no file under emulator/ imports from src/ or platform/', () => {
    const files = sourceFiles(join(root, 'emulator'));
    expect(files.length).toBeGreaterThan(20);
    const offending: string[] = [];
    for (const file of files) {
      for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), specifier);
        if (sdkFolders.some((folder) => target === folder || target.startsWith(`${folder}/`))) {
          offending.push(`${relative(root, file)} → ${specifier}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });

  it('the check sees an import into src/ (it is not vacuous)', () => {
    expect(importsOf("import { x } from '../../src/twin/merge-patch.js';\nexport * from './a.js';")).toEqual([
      '../../src/twin/merge-patch.js',
      './a.js',
    ]);
  });
});
