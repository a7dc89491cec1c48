/**
 * A tiny assertion helper for the contract suites, which run under vitest in Node and in a browser bundle too,
 * so they import no test framework.
 */

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function fail(message: string): never {
  throw new AssertionError(message);
}

export function ok(value: unknown, message = 'expected a truthy value'): asserts value {
  if (!value) fail(message);
}

export function equal<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) {
    fail(`${message ?? 'values differ'}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** Structural equality for JSON-like values, bigints and byte arrays. */
export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  if (!same(actual, expected)) {
    fail(`${message ?? 'values differ'}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function bytesEqual(actual: unknown, expected: Uint8Array, message = 'bytes differ'): void {
  ok(actual instanceof Uint8Array, `${message}: expected a Uint8Array, got ${show(actual)}`);
  equal(actual.byteLength, expected.byteLength, `${message}: length`);
  for (let i = 0; i < expected.byteLength; i++) {
    if (actual[i] !== expected[i]) fail(`${message}: first difference at byte ${i}`);
  }
}

/** Awaits `promise`, which must reject with an error whose `code` is `code`; returns that error. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: string,
  message = 'expected a rejection',
): Promise<Error & { code: string }> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  ok(error !== undefined, `${message} with code ${code}, but it resolved`);
  const actual = (error as { code?: unknown }).code;
  if (actual !== code) fail(`${message} with code ${code}, got ${show(actual)}: ${String(error)}`);
  return error as Error & { code: string };
}

/** Rejects with a clear message if `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` until it returns a truthy value. */
export async function eventually<T>(
  probe: () => Promise<T> | T,
  ms: number,
  what: string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) fail(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => same(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && same(a[key], b[key]));
  }
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  try {
    const text = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}
