/**
 * What `npm pack` ships: the files users run, and nothing else (no demo, bench or test files). `npm pack --dry-run
 * --json` lists the package as npm would publish it (without scripts: `npm test` has already built dist/); every file
 * must match the allow-list below, every file package.json names (exports, bin, main, types, browser) must be in it,
 * so must every module, worker, WebAssembly and source map that a shipped file refers to, and the whole must stay
 * within its size budget.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

interface Packed {
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

/** Every path the package may hold. */
const allowList: RegExp[] = [
  /^(package\.json|README\.md|CHANGELOG\.md)$/,
  // The SDK core, the Node, Bun, Deno, browser and mqtt.js platforms, the emulator and the testing entry: modules,
  // declarations, source maps.
  /^dist\/(src|platform\/(node|bun|deno|mqttjs|browser)|emulator|testing)\/([\w-]+\/)*[\w.-]+\.(js|js\.map|d\.ts)$/,
  // The WebAssembly of the browser workers, beside them.
  /^dist\/platform\/browser\/(sql-wasm-browser|brotli_wasm_bg)\.wasm$/,
  // The emulator's portal as vite builds it: the page, the manifest the emulator finds it by, hashed assets.
  /^dist\/emulator\/portal\/(index\.html|\.vite\/manifest\.json|assets\/[\w-]+\.(js|css|svg|png|ico|woff2))$/,
];

/** What never belongs in the package, named in its own failure message. */
const neverShipped = /(^|\/)(demo|bench|test|tests|fixtures|__tests__)\/|\.(test|spec)\.|\.tsbuildinfo$/;

/** Files no reference below leads to, which users still need. */
const essentials = [
  'dist/platform/browser/database-worker.js',
  'dist/platform/browser/compression-worker.js',
  'dist/platform/browser/sql-wasm-browser.wasm',
  'dist/platform/browser/brotli_wasm_bg.wasm',
  'dist/emulator/portal/index.html',
  'dist/emulator/portal/.vite/manifest.json',
];

/**
 * The budget of the unpacked package. The two WebAssembly files alone weigh 1.75 MB, the source maps (which carry
 * their sources) 1.37 MB and the JS with its declarations 1.12 MB: 4.41 MB in all with the Bun and Deno entries and
 * the testing entry, and the built kiosk demo, if it came back, would add 2.4 MB. (Issue 20 asked for 1.6 MB: not
 * reachable while the browser workers ship with their wasm, see CHANGELOG.)
 */
const maxUnpackedBytes = 4_600_000;

type Target = string | { [condition: string]: Target } | null;

/** Every file a package.json field names, through nested conditions, as a package path (no `./`). */
function targets(target: Target | undefined): string[] {
  if (target === undefined || target === null) return [];
  if (typeof target === 'string') return [posix.normalize(target)];
  return Object.values(target).flatMap(targets);
}

/**
 * The package paths a shipped file refers to: relative imports and exports (in a declaration file, `./x.js` names
 * `./x.d.ts`), `new URL('./x', import.meta.url)` (the workers, their wasm, package.json) and its source map.
 * Directories (the emulator's portal, looked for in two places) are left out.
 */
function references(file: string, text: string): string[] {
  const specifiers = [
    ...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"\s]+)\1/g),
    ...text.matchAll(/\bnew URL\(\s*(['"])(\.{1,2}\/[^'"\s]+)\1\s*,\s*import\.meta\.url/g),
  ].map((match) => match[2]!);
  const map = /^\/\/# sourceMappingURL=(\S+)\s*$/m.exec(text)?.[1];
  if (map !== undefined) specifiers.push(`./${map}`);
  return specifiers
    .filter((specifier) => !specifier.endsWith('/'))
    .map((specifier) => posix.join(posix.dirname(file), specifier))
    .map((path) => (file.endsWith('.d.ts') ? path.replace(/\.js$/, '.d.ts') : path));
}

describe('npm pack', () => {
  let packed: Packed;
  let paths: Set<string>;

  beforeAll(() => {
    const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    packed = (JSON.parse(output) as Packed[])[0]!;
    paths = new Set(packed.files.map((file) => file.path));
  });

  it('holds only allow-listed files: no demo, bench or test files', () => {
    expect([...paths].filter((path) => neverShipped.test(path))).toEqual([]);
    expect([...paths].filter((path) => !allowList.some((pattern) => pattern.test(path)))).toEqual([]);
  });

  it('holds every file package.json names, and the workers, their wasm and the portal', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, Target>;
    const named = [
      ...targets(manifest.exports),
      ...targets(manifest.bin),
      ...targets(manifest.main),
      ...targets(manifest.types),
      ...targets(manifest.browser),
    ];
    expect(named).toContain('dist/emulator/cli.js');
    expect(named).toContain('package.json');
    expect([...new Set([...named, ...essentials])].filter((path) => !paths.has(path))).toEqual([]);
  });

  it('holds every module, worker, wasm and source map a shipped file refers to, and no map nothing refers to', () => {
    const missing: string[] = [];
    const referred = new Set<string>();
    for (const file of paths) {
      if (!file.endsWith('.js') && !file.endsWith('.d.ts')) continue;
      for (const path of references(file, readFileSync(file, 'utf8'))) {
        referred.add(path);
        if (!paths.has(path)) missing.push(`${file} → ${path}`);
      }
    }
    expect(missing).toEqual([]);
    expect([...paths].filter((path) => path.endsWith('.map') && !referred.has(path))).toEqual([]);
  });

  it('ships source maps that carry their sources (the TypeScript is not in the package)', () => {
    const bare = [...paths].filter((path) => {
      if (!path.endsWith('.js.map')) return false;
      const map = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      return map.sourcesContent?.length !== map.sources.length;
    });
    expect(bare).toEqual([]);
  });

  it(`stays within ${maxUnpackedBytes / 1e6} MB unpacked`, () => {
    expect(packed.unpackedSize).toBe(packed.files.reduce((sum, file) => sum + file.size, 0));
    expect(packed.unpackedSize).toBeLessThanOrEqual(maxUnpackedBytes);
  });
});
