/**
 * Turning what a user passes to `enqueueMessage` into the bytes that are stored and sent. This runs at the call,
 * before anything is stored, so a payload that JSON would not give back as it was is refused there with
 * `INVALID_ARGUMENT`, naming where in the payload it is, rather than silently changed (JSON.stringify turns NaN
 * into null, a Date into a string, a Map into `{}`, and drops undefined members and functions).
 */
import { invalidArgument } from '../errors.js';

const utf8 = new TextEncoder();

/** Bytes, sent as they are. */
export type BinaryPayload = Uint8Array | ArrayBuffer | ArrayBufferView;

type JsonPrimitive = string | number | boolean | null;
/** What JSON cannot give back: refused at compile time where the type shows it, and at the call otherwise. */
type NotJson =
  | undefined
  | symbol
  | bigint
  | ((...args: never[]) => unknown)
  | Date
  | RegExp
  | Error
  | Map<unknown, unknown>
  | Set<unknown>
  | BinaryPayload;

/** `T` when JSON can carry it and give it back unchanged, else (somewhere inside) `never`. */
export type JsonCompatible<T> = T extends JsonPrimitive
  ? T
  : T extends NotJson
    ? never
    : T extends object
      ? { [K in keyof T]: JsonCompatible<T[K]> }
      : never;

/** A message payload: bytes, a string (sent as UTF-8), or a JSON value. */
export type MessagePayload<T> = T extends BinaryPayload | string ? T : JsonCompatible<T>;

/**
 * Encodes a message payload:
 * - a `Uint8Array` (a Node `Buffer` included) is returned as it is;
 * - any other binary view (`DataView`, `Float32Array`, …) or an `ArrayBuffer` becomes a `Uint8Array` over the
 *   same bytes (no copy);
 * - a string becomes its UTF-8 bytes;
 * - anything else must be a JSON value that comes back unchanged from `JSON.parse(JSON.stringify(value))`: plain
 *   objects and arrays of strings, finite numbers, booleans and null.
 *
 * @param root how errors name the value (`payload`, `patch`).
 * @throws SpotflowError `INVALID_ARGUMENT` naming the path of the first value that is not (e.g.
 * `payload.readings[2].at cannot be a Date`), for circular structures, and for nesting deeper than the
 * engine's stack allows.
 */
export function encodePayload(payload: unknown, root = 'payload'): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (ArrayBuffer.isView(payload))
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  if (isArrayBuffer(payload)) return new Uint8Array(payload);
  if (typeof payload === 'string') return utf8.encode(payload);
  // Nearly every payload is valid: a quick check without paths decides those, and only a payload it does not pass
  // gets the full walk, which names the problem (or passes it: the quick check gives up on deep nesting).
  if (!quickFaithful(payload, 0)) {
    const problem = jsonProblem(payload, root);
    if (problem !== undefined) throw invalidArgument(`${problem.path} cannot be ${problem.what}`);
  }
  try {
    return utf8.encode(JSON.stringify(payload));
  } catch (error) {
    // The engine's stack limit: JSON.stringify recurses once per level of nesting.
    throw invalidArgument(`The ${root} nests too deeply to be serialised as JSON`, { cause: error });
  }
}

/** How deep {@link quickFaithful} follows nesting before it leaves the value to the full walk. */
const QUICK_DEPTH = 64;

/**
 * Whether JSON gives `value` back unchanged, decided without building a path per value (which costs more than the
 * JSON itself for a small telemetry object). Never true where {@link jsonProblem} finds a problem; false also for
 * what it does not follow (nesting deeper than {@link QUICK_DEPTH}, a cycle), which the full walk then decides.
 */
function quickFaithful(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= QUICK_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) {
          const item: unknown = value[index];
          // A hole reads as undefined, and undefined is refused as well.
          if (item === undefined || !quickFaithful(item, depth + 1)) return false;
        }
        return true;
      }
      const prototype: unknown = Object.getPrototypeOf(value);
      if (prototype !== null && Object.getPrototypeOf(prototype) !== null) return false;
      if (Object.getOwnPropertySymbols(value).length > 0) return false;
      // for…in also lists inherited enumerable keys (a polluted Object.prototype): more to check, never less.
      for (const key in value) {
        if (!quickFaithful((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * The first value, depth first, that JSON would not give back as it was: where it is and what it is; undefined
 * when there is none. Walks iteratively, so hostile nesting cannot overflow the stack here.
 */
export function jsonProblem(value: unknown, root = 'payload'): { path: string; what: string } | undefined {
  type Frame = { value: unknown; path: string } | { leave: object };
  const stack: Frame[] = [{ value, path: root }];
  const open = new Set<object>(); // the objects on the path from the root: meeting one again is a cycle
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if ('leave' in frame) {
      open.delete(frame.leave);
      continue;
    }
    const what = notJson(frame.value);
    if (what !== undefined) return { path: frame.path, what };
    if (typeof frame.value !== 'object' || frame.value === null) continue;
    const object = frame.value;
    if (open.has(object)) return { path: frame.path, what: 'a circular reference' };
    open.add(object);
    stack.push({ leave: object });
    const children: Frame[] = [];
    if (Array.isArray(object)) {
      for (let index = 0; index < object.length; index++) {
        const path = `${frame.path}[${index}]`;
        if (!(index in object)) return { path, what: 'an empty array slot (JSON makes it null)' };
        children.push({ value: object[index], path });
      }
    } else {
      if (Object.getOwnPropertySymbols(object).length > 0) {
        return { path: frame.path, what: 'an object with symbol keys (JSON drops them)' };
      }
      for (const [key, child] of Object.entries(object)) {
        children.push({ value: child, path: `${frame.path}${member(key)}` });
      }
    }
    for (let index = children.length - 1; index >= 0; index--) stack.push(children[index]!);
  }
  return undefined;
}

/** Why this one value (not what it holds) has no faithful JSON form, or undefined when it has one. */
function notJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
      return 'undefined (JSON drops it; leave the member out or use null)';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'bigint':
      return 'a bigint (convert it to a string or number first)';
    case 'number':
      return Number.isFinite(value) ? undefined : `a non-finite number (${value})`;
    case 'object': {
      if (value === null || Array.isArray(value)) return undefined;
      const prototype: unknown = Object.getPrototypeOf(value);
      // A plain object: its prototype is null or an Object.prototype (of any realm: iframes, vm contexts).
      if (prototype === null || Object.getPrototypeOf(prototype) === null) return undefined;
      return describeObject(value);
    }
    default:
      return undefined;
  }
}

function describeObject(value: object): string {
  if (value instanceof Date) return 'a Date (send date.toISOString() or a number)';
  if (value instanceof Map || value instanceof Set)
    return `a ${value.constructor.name} (convert it to an object or array)`;
  if (ArrayBuffer.isView(value) || isArrayBuffer(value))
    return 'binary data (bytes can only be the whole payload)';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  const kind =
    typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? `a ${name}` : 'an object of a class';
  return `${kind} (only plain objects and arrays are sent as JSON)`;
}

/** `.key` for identifier-like keys, `["key"]` for others (cut to 64 characters). */
function member(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) && key.length <= 64
    ? `.${key}`
    : `[${JSON.stringify(key.slice(0, 64))}]`;
}

function isArrayBuffer(value: unknown): value is ArrayBuffer {
  // Object.prototype.toString works across realms (iframes, vm contexts), where instanceof does not.
  return Object.prototype.toString.call(value) === '[object ArrayBuffer]';
}
