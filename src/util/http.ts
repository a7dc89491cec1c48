/**
 * One HTTP exchange under one deadline, with a cap on the response body. `fetch`'s own limits (and ky's `timeout`)
 * cover the time to the response headers only: a body that stalls holds the call until undici's 300 s body
 * timeout, and a body of any size is read in full. Here one timer on the `Clock` covers headers and body together,
 * and the body is read chunk by chunk, up to a limit, before anyone parses it.
 */
import { abortedError, SpotflowError } from '../errors.js';
import type { Clock, TimerHandle } from '../ports.js';

export interface ExchangeLimits {
  /** Headers and body must both have arrived within this many ms. */
  timeoutMs: number;
  /** The largest response body accepted, in bytes. */
  maxBodyBytes: number;
  /** Names the call in errors (e.g. `The platform's answer to init`); never a URL (it may carry a SAS). */
  what: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/**
 * Runs `send` with a signal that aborts at the deadline (or when `signal` does), then reads the whole body.
 * Rejects with `TIMEOUT` when the deadline passes, `PROTOCOL` when the body is too large, `ABORTED` (or the
 * signal's reason) when `signal` aborts; other failures of `send` are rethrown as they are.
 */
export async function exchange(
  clock: Clock,
  limits: ExchangeLimits,
  signal: AbortSignal | undefined,
  send: (signal: AbortSignal) => Promise<Response>,
): Promise<Answer> {
  if (signal?.aborted) throw abortedError(signal);
  const controller = new AbortController();
  const late = new SpotflowError(
    'TIMEOUT',
    `${limits.what} did not arrive within ${Number((limits.timeoutMs / 1000).toFixed(1))} s`,
  );
  let timedOut = false;
  const timer: TimerHandle = clock.setTimeout(() => {
    timedOut = true;
    controller.abort(late);
  }, limits.timeoutMs);
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // Settles when the deadline passes or the caller aborts, whatever `send` and the body stream do meanwhile.
  const stopped = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  stopped.catch(() => {});
  try {
    const response = await Promise.race([send(controller.signal), stopped]);
    const body = await readBody(response, limits, stopped);
    return { status: response.status, headers: response.headers, body };
  } catch (error) {
    if (timedOut) throw late;
    if (signal?.aborted) throw abortedError(signal);
    throw error;
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (!controller.signal.aborted) controller.abort(); // releases the connection of an unread body
  }
}

async function readBody(
  response: Response,
  limits: ExchangeLimits,
  stopped: Promise<never>,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new SpotflowError('PROTOCOL', `${limits.what} is larger than ${limits.maxBodyBytes} bytes`);
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
    void response.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (response.body === null) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), stopped]);
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBodyBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    void reader.cancel().catch(() => {});
    throw error;
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The body as JSON, or undefined when it is not (server data is untrusted: callers check the shape). */
export function jsonOf(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}
