import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// Imports every subpath of the package by its public name, as a user would (resolved through `exports`
// to the built files in dist/, which `npm test` builds first).
const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, unknown> };

describe('package exports', () => {
  it('has a built file for every subpath', () => {
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      const files = typeof target === 'string' ? [target] : Object.values(target as Record<string, string>);
      for (const file of files) expect(existsSync(file), `${subpath} → ${file}`).toBe(true);
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
    await expect(core.DeviceClient.start({})).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('lists every subpath in the exports test', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual([
      '.',
      './core',
      './emulator',
      './node',
      './package.json',
    ]);
  });
});
