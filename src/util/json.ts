/**
 * Turning what a user passes to `enqueueMessage` into the bytes that are stored and sent. This runs at the call,
 * before anything is stored, so a payload that cannot be represented faithfully is refused there with
 * `INVALID_ARGUMENT` rather than silently changed (JSON.stringify would turn NaN into null, drop a function,
 * or make `{}` of a Map).
 */
import { invalidArgument, isSpotflowError } from '../errors.js';

const utf8 = new TextEncoder();

/**
 * Encodes a message payload:
 * - a `Uint8Array` (a Node `Buffer` included) is returned as it is;
 * - any other binary view (`DataView`, `Float32Array`, …) or an `ArrayBuffer` becomes a `Uint8Array` over the
 *   same bytes (no copy);
 * - a string becomes its UTF-8 bytes;
 * - anything else is serialised with `JSON.stringify` (so `toJSON`, e.g. of a `Date`, is honoured; object members
 *   that are `undefined` are left out and array items that are `undefined` become `null`, as JSON does).
 *
 * @throws SpotflowError `INVALID_ARGUMENT` for `undefined`, functions, symbols and bigints (at the top or
 * nested, except nested `undefined`), non-finite numbers, `Map`/`Set` (which would become `{}`), circular
 * structures, nesting deeper than the engine's stack allows, and any error thrown by a `toJSON` method (as
 * `cause`).
 */
export function encodePayload(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  if (ArrayBuffer.isView(payload))
    return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  if (isArrayBuffer(payload)) return new Uint8Array(payload);
  if (typeof payload === 'string') return utf8.encode(payload);
  const rejected = unsupportedValue(payload);
  if (rejected !== undefined) throw invalidArgument(`The payload cannot be ${rejected}`);
  let json: string | undefined;
  try {
    json = JSON.stringify(payload, rejectLossyValues);
  } catch (error) {
    if (isSpotflowError(error)) throw error;
    // The engine's stack limit: JSON.stringify recurses once per level of nesting.
    if (error instanceof RangeError) {
      throw invalidArgument('The payload nests too deeply to be serialised as JSON', { cause: error });
    }
    // TypeError for circular structures, or whatever a toJSON method threw.
    throw invalidArgument('The payload cannot be serialised as JSON (circular structure?)', { cause: error });
  }
  // A toJSON method returned undefined, a function or a symbol.
  if (json === undefined) throw invalidArgument('The payload serialises to nothing (undefined) in JSON');
  return utf8.encode(json);
}

function isArrayBuffer(value: unknown): value is ArrayBuffer {
  // Object.prototype.toString works across realms (iframes, vm contexts), where instanceof does not.
  return Object.prototype.toString.call(value) === '[object ArrayBuffer]';
}

/** Describes why a value has no faithful JSON form, or undefined when it has one (as far as this level goes). */
function unsupportedValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'bigint':
      return 'a bigint (convert it to a string or number first)';
    case 'number':
      return Number.isFinite(value) ? undefined : `a non-finite number (${value})`;
    default:
      if (value instanceof Map || value instanceof Set)
        return 'a Map or Set (convert it to an object or array)';
      return undefined;
  }
}

/** JSON.stringify replacer: sees every value after toJSON, and refuses the lossy ones. */
function rejectLossyValues(this: unknown, key: string, value: unknown): unknown {
  // Nested undefined is ordinary (optional fields) and JSON's handling of it is well known.
  if (value === undefined && key !== '') return value;
  const rejected = unsupportedValue(value);
  if (rejected === undefined) return value;
  const where = key === '' ? 'The payload' : `Payload member ${JSON.stringify(key.slice(0, 64))}`;
  throw invalidArgument(`${where} cannot be ${rejected}`);
}
