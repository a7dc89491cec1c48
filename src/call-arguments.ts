import { invalidArgument } from './errors.js';
import { encodePayload } from './util/json.js';

/** Payloads larger than this are refused at the call. */
export const maxPayloadBytes = 64 * 1024 * 1024;

/** The signal of `{ signal? }` options of the wait methods, checked. */
export function readWaitOptions(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument('The options must be an object like { signal }');
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw invalidArgument('signal must be an AbortSignal');
  return signal;
}

/** The bytes to store: a private copy, so a caller reusing its buffer cannot change a queued message. */
export function payloadBytes(payload: unknown): Uint8Array {
  const bytes = encodePayload(payload);
  if (bytes.length > maxPayloadBytes) {
    throw invalidArgument(`A payload may be at most ${maxPayloadBytes} bytes`);
  }
  return payload instanceof Uint8Array || ArrayBuffer.isView(payload) ? bytes.slice() : bytes;
}
