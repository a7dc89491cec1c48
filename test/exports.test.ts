import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Imports every subpath of the package by its public name, as a user would (resolved through `exports`
// to the built files in dist/, which `npm test` builds first).
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, unknown> };

type Target = string | { [condition: string]: Target } | null;

/** Every file a target names, through nested conditions. */
function files(target: Target): string[] {
  if (target === null) return [];
  if (typeof target === 'string') return [target];
  return Object.values(target).flatMap(files);
}

/**
 * Resolves `subpath` through the exports map as Node and bundlers do: the first condition (in the map's order)
 * that is active or `default` wins, recursively. Returns undefined when no condition matches.
 */
function resolveExport(subpath: string, conditions: readonly string[]): string | undefined {
  const pick = (target: Target | undefined): string | undefined => {
    if (target === undefined || target === null) return undefined;
    if (typeof target === 'string') return target;
    for (const [condition, next] of Object.entries(target)) {
      if (condition === 'default' || conditions.includes(condition)) {
        const resolved = pick(next);
        if (resolved !== undefined) return resolved;
      }
    }
    return undefined;
  };
  return pick(manifest.exports[subpath] as Target | undefined);
}

const nodeEntry = './dist/platform/node/index.js';
const browserEntry = './dist/platform/browser/index.js';

describe('package exports', () => {
  it('has a built file for every subpath', () => {
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      for (const file of files(target as Target)) expect(existsSync(file), `${subpath} → ${file}`).toBe(true);
    }
  });

  it.each([
    [
      'spotflow-device',
      ['DeviceClient', 'SpotflowError', 'isSpotflowError', 'createNodePlatform', 'consoleLogger'],
    ],
    ['spotflow-device/node', ['DeviceClient', 'createNodePlatform', 'SPOTFLOW_ERROR_CODES']],
    ['spotflow-device/core', ['DeviceClient', 'SpotflowError', 'isSpotflowError']],
    ['spotflow-device/emulator', ['startEmulator', 'createLogger']],
    [
      'spotflow-device/testing',
      [
        'startTestEmulator',
        'ManagementClient',
        'TestClock',
        'EmulatorApiError',
        'WaitTimeoutError',
        'messageJson',
      ],
    ],
    ['spotflow-device/testing/playwright', ['spotflowFixtures']],
  ])('%s exports its API', async (specifier, names) => {
    const module = (await import(specifier)) as Record<string, unknown>;
    for (const name of names) expect(module[name], `${specifier} exports ${name}`).toBeDefined();
  });

  it("the Node entry's DeviceClient knows its platform", async () => {
    const node = (await import('spotflow-device')) as { DeviceClient: { start: unknown; startOn: unknown } };
    const core = (await import('spotflow-device/core')) as {
      DeviceClient: { start: (o: unknown) => Promise<unknown> };
    };
    expect(node.DeviceClient.start).not.toBe(core.DeviceClient.start);
    await expect(core.DeviceClient.start({})).rejects.toMatchObject({
      code: 'PLATFORM_REQUIRED',
      message: expect.stringContaining('startOn(platform, options)'),
    });
  });

  it('lists every subpath in the exports test', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual([
      '.',
      './browser',
      './core',
      './emulator',
      './node',
      './package.json',
      './testing',
      './testing/playwright',
    ]);
  });

  describe('runtime conditions', () => {
    // What bundlers use for a browser build (Vite: browser, import, module, default), and Node's own.
    const browser = ['browser', 'import', 'module'];
    const node = ['node', 'import'];

    it("'.' resolves to the browser entry under `browser`, to the Node entry under `node` and by default", () => {
      expect(resolveExport('.', browser)).toBe(browserEntry);
      expect(resolveExport('.', node)).toBe(nodeEntry);
      expect(resolveExport('.', ['import'])).toBe(nodeEntry);
      // Node with --conditions=browser (e.g. a test runner emulating a browser): `browser` is listed first, so wins.
      expect(resolveExport('.', ['node', 'browser', 'import'])).toBe(browserEntry);
    });

    it("'.' resolves to the Bun entry under `bun` and the Deno entry under `deno` (both also set `node`)", () => {
      expect(resolveExport('.', ['bun', 'node', 'import'])).toBe('./dist/platform/bun/index.js');
      expect(resolveExport('.', ['deno', 'node', 'import'])).toBe('./dist/platform/deno/index.js');
      expect(resolveExport('.', ['types', 'bun', 'import'])).toBe('./dist/platform/bun/index.d.ts');
      expect(resolveExport('.', ['types', 'deno', 'import'])).toBe('./dist/platform/deno/index.d.ts');
    });

    it('types follow the runtime: browser declarations under `browser`, Node ones otherwise', () => {
      expect(resolveExport('.', ['types', ...browser])).toBe('./dist/platform/browser/index.d.ts');
      expect(resolveExport('.', ['types', ...node])).toBe('./dist/platform/node/index.d.ts');
      expect(resolveExport('.', ['types', 'import'])).toBe('./dist/platform/node/index.d.ts');
    });

    it("'./node' and './browser' name one runtime whatever the conditions", () => {
      for (const conditions of [browser, node]) {
        expect(resolveExport('./node', conditions)).toBe(nodeEntry);
        expect(resolveExport('./browser', conditions)).toBe(browserEntry);
      }
    });

    it("'./emulator' is for Node only: a browser bundle cannot resolve it", () => {
      expect(resolveExport('./emulator', node)).toBe('./dist/emulator/index.js');
      expect(resolveExport('./emulator', browser)).toBeUndefined();
    });

    it("'./testing' and './testing/playwright' are for Node only, and neither loads @playwright/test at run time", () => {
      expect(resolveExport('./testing', node)).toBe('./dist/testing/index.js');
      expect(resolveExport('./testing/playwright', node)).toBe('./dist/testing/playwright.js');
      expect(resolveExport('./testing', browser)).toBeUndefined();
      expect(resolveExport('./testing/playwright', browser)).toBeUndefined();
      // Its types only: a user of the management client alone needs no @playwright/test installed.
      for (const file of ['index', 'playwright', 'management-client', 'emulator']) {
        expect(readFileSync(`dist/testing/${file}.js`, 'utf8')).not.toContain('@playwright/test');
      }
    });

    it("Node's own resolver agrees (the package referring to itself, with and without --conditions=browser)", () => {
      const resolve = (flags: string[]) =>
        execFileSync(
          process.execPath,
          [
            ...flags,
            '--input-type=module',
            '-e',
            "console.log(import.meta.resolve('spotflow-device'), import.meta.resolve('spotflow-device/browser'))",
          ],
          { encoding: 'utf8' },
        )
          .trim()
          .split(' ')
          .map((url) => `./${new URL(url).pathname.split('/').slice(-4).join('/')}`);
      expect(resolve([])).toEqual([nodeEntry, browserEntry]);
      expect(resolve(['--conditions=browser'])).toEqual([browserEntry, browserEntry]);
    });
  });
});
