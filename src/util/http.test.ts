/**
 * One deadline for headers and body together, and a cap on the body, on a fake clock. The responses are real
 * `Response` objects over streams the test controls (a body that stalls, one that never stops); the same faults
 * over real sockets are in test/reliability/hostile-http.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/helpers/clock.js';
import { isSpotflowError } from '../errors.js';
import { exchange } from './http.js';

const limits = { timeoutMs: 30_000, maxBodyBytes: 1000, what: "The platform's answer to init" };

/** A body that sends `first` and then nothing, ever; `cancelled` tells whether the reader gave up on it. */
function stallingBody(first: Uint8Array) {
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(first);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

function outcome<T>(promise: Promise<T>) {
  const seen: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(seen, { value, settled: true }),
    (error: unknown) => Object.assign(seen, { error, settled: true }),
  );
  return seen;
}

describe('exchange', () => {
  it('ends a body that stalls after the headers at the deadline, with TIMEOUT', async () => {
    const clock = new FakeClock();
    const { stream, state } = stallingBody(new TextEncoder().encode('{"provisioningOp'));
    const seen = outcome(exchange(clock, limits, undefined, async () => new Response(stream)));
    await clock.advance(29_999);
    expect(seen.settled).toBe(false);
    await clock.advance(1);
    expect(isSpotflowError(seen.error, 'TIMEOUT')).toBe(true);
    expect((seen.error as Error).message).toBe("The platform's answer to init did not arrive within 30 s");
    expect(state.cancelled).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('ends a call whose headers never come at the same deadline, and aborts the request', async () => {
    const clock = new FakeClock();
    let requestSignal: AbortSignal | undefined;
    const seen = outcome(
      exchange(clock, limits, undefined, (signal) => {
        requestSignal = signal;
        return new Promise<Response>(() => {});
      }),
    );
    await clock.advance(30_000);
    expect(isSpotflowError(seen.error, 'TIMEOUT')).toBe(true);
    expect(requestSignal?.aborted).toBe(true);
  });

  it('refuses a body larger than the cap by its Content-Length, without reading it', async () => {
    const clock = new FakeClock();
    const { stream, state } = stallingBody(new Uint8Array(10));
    const response = new Response(stream, { headers: { 'content-length': String(50 * 1024 * 1024) } });
    const seen = outcome(exchange(clock, limits, undefined, async () => response));
    await clock.advance(0);
    expect(isSpotflowError(seen.error, 'PROTOCOL')).toBe(true);
    expect((seen.error as Error).message).toBe("The platform's answer to init is larger than 1000 bytes");
    expect(state.cancelled).toBe(true);
  });

  it('stops reading a body without a length once it passes the cap', async () => {
    const clock = new FakeClock();
    let pulled = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(300));
      },
      cancel() {
        cancelled = true;
      },
    });
    const seen = outcome(exchange(clock, limits, undefined, async () => new Response(endless)));
    await clock.advance(0);
    expect(isSpotflowError(seen.error, 'PROTOCOL')).toBe(true);
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThan(10);
  });

  it("rejects with the caller's abort, not TIMEOUT", async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const { stream } = stallingBody(new Uint8Array(1));
    const seen = outcome(exchange(clock, limits, caller.signal, async () => new Response(stream)));
    await clock.advance(1000);
    caller.abort();
    await clock.advance(0);
    expect(isSpotflowError(seen.error, 'ABORTED')).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('returns status, headers and the whole body, and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const seen = outcome(
      exchange(clock, limits, undefined, async () => new Response('{"a":1}', { status: 202 })),
    );
    await clock.advance(0);
    expect(seen.value?.status).toBe(202);
    expect(new TextDecoder().decode(seen.value?.body)).toBe('{"a":1}');
    expect(clock.pending).toBe(0);
  });
});
