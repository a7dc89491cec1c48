/**
 * The public surface as a user meets it: what the core entry says without a platform, what the emitted types
 * show, and which event names are accepted. Type errors here are checked by `npm run lint` (tsc over test/).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DeviceClient as NodeDeviceClient } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/index.js';

describe('the core entry', () => {
  it('says at compile time that start needs a platform, and rejects with PLATFORM_REQUIRED from JavaScript', async () => {
    // @ts-expect-error: the core's DeviceClient has no platform; this line must not compile
    const started = DeviceClient.start({ provisioningToken: 'token', database: 'device.db' });
    await expect(started).rejects.toMatchObject({
      code: 'PLATFORM_REQUIRED',
      message: expect.stringContaining('startOn(platform, options)'),
    });
  });

  it('cannot be constructed directly, at compile time', () => {
    // @ts-expect-error: the constructor is protected; clients come from start or startOn
    expect(() => new DeviceClient()).not.toThrow(); // (at runtime it only makes an empty shell)
    expect(typeof NodeDeviceClient.start).toBe('function');
  });
});

describe('the emitted declarations (npm run build)', () => {
  const dts = readFileSync(new URL('../../dist/src/client.d.ts', import.meta.url), 'utf8');

  it('show no internal type in the public signatures', () => {
    expect(dts).not.toMatch(/@internal/);
    expect(dts).toMatch(/protected constructor\(\);/);
    // Only modules whose types the package exports: no assembly, parts, session or store types.
    const imported = [...dts.matchAll(/from '(\.[^']+)'/g)].map((match) => match[1]);
    for (const path of imported) expect(path).not.toMatch(/assembly|parts|session|store\.js|token-handler/);
  });
});
