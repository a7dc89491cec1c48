import { describe, expect, it } from 'vitest';
import { isSpotflowError } from '../errors.js';
import { Hurry } from './flow.js';

describe('Hurry', () => {
  it('waits the full time when nobody hurries it', async () => {
    const started = Date.now();
    await new Hurry().wait(60, undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('ends a long wait early on now()', async () => {
    const hurry = new Hurry();
    const started = Date.now();
    const waiting = hurry.wait(10_000, undefined);
    setTimeout(() => hurry.now(), 20);
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects with ABORTED when the signal aborts', async () => {
    const controller = new AbortController();
    const waiting = new Hurry().wait(10_000, controller.signal);
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(isSpotflowError(error, 'ABORTED')).toBe(true);
  });
});
