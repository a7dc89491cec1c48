/**
 * IoT Hub's rules for twin documents, shared by the SDK (refusing a patch at the call) and the emulator (refusing
 * it as the hub would). Both checks walk the value iteratively, so hostile nesting cannot overflow the stack.
 */
import { invalidArgument } from '../errors.js';
import { encodePayload } from '../util/json.js';
import { isJsonObject, type JsonObject } from './merge-patch.js';

/**
 * How deep twin property objects may nest below the section (IoT Hub's guide: `{ one: { two: … { ten: { p: 1 } } } }`
 * is valid: ten objects below the top level).
 */
export const maxTwinDepth = 10;

/** True when objects (or arrays) nest deeper than `limit` levels. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (typeof next.value !== 'object' || next.value === null) continue;
    if (next.depth >= limit) return true;
    for (const child of Object.values(next.value)) stack.push({ value: child, depth: next.depth + 1 });
  }
  return false;
}

/** Property names: up to 1 KB, no `.`, `$`, space or control characters (C0 and C1). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const invalidKeyCharacter = /[.$ \u0000-\u001f\u007f-\u009f]/;
const utf8 = new TextEncoder();

/**
 * Why some property name, at any depth, breaks IoT Hub's rule; undefined when all are fine.
 * `allowTopLevelMetadata` lets `$version`-like keys stand at the top (documents the service itself writes).
 */
export function invalidPropertyName(value: unknown, allowTopLevelMetadata = false): string | undefined {
  const stack: { value: unknown; top: boolean }[] = [{ value, top: true }];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (typeof next.value !== 'object' || next.value === null) continue;
    if (!Array.isArray(next.value)) {
      for (const key of Object.keys(next.value)) {
        if (next.top && allowTopLevelMetadata && key.startsWith('$')) continue;
        if (key.length === 0) return 'may not be empty';
        if (utf8.encode(key).length > 1024) return 'may be at most 1 KB';
        if (invalidKeyCharacter.test(key)) return "may not contain '.', '$', spaces or control characters";
      }
    }
    for (const child of Object.values(next.value)) stack.push({ value: child, top: false });
  }
  return undefined;
}

const maxPatchBytes = 32 * 1024;

/**
 * A reported patch as IoT Hub accepts it (a plain JSON object, at most 32 KB, nesting ≤ 10, valid names), as the
 * JSON it will be sent as; throws `INVALID_ARGUMENT` at the call otherwise.
 */
export function checkReportedPatch(patch: unknown): JsonObject {
  const prototype = typeof patch === 'object' && patch !== null ? Object.getPrototypeOf(patch) : undefined;
  if (!isJsonObject(patch) || (prototype !== Object.prototype && prototype !== null)) {
    throw invalidArgument('A reported-properties patch must be a plain JSON object');
  }
  // The patch is the section's top level (depth 0); its tenth nested object stands at depth 10.
  if (nestsDeeperThan(patch, maxTwinDepth + 1))
    throw invalidArgument(`Reported properties may nest at most ${maxTwinDepth} levels`);
  const bytes = encodePayload(patch, 'patch');
  if (bytes.length > maxPatchBytes) {
    throw invalidArgument(`A reported-properties patch may be at most ${maxPatchBytes} bytes`);
  }
  const parsed = JSON.parse(new TextDecoder().decode(bytes)) as JsonObject;
  // At every level: IoT Hub refuses such a patch wherever the key is, and a refused patch would be dropped later.
  const bad = invalidPropertyName(parsed);
  if (bad !== undefined) throw invalidArgument(`Reported property name ${bad}`);
  return parsed;
}
