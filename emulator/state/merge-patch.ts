/**
 * JSON merge patch (RFC 7396), the emulator's own: IoT Hub applies desired and reported twin patches this way. It is
 * deliberately not the SDK's code (a mistake there must not be mirrored here); test/emulator/core-agreement.test.ts
 * holds the two against each other. The npm `json-merge-patch` package was not used: it changes its target in place
 * and silently stops at a `__proto__`, `constructor` or `prototype` key, all valid twin property names on IoT Hub.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

/** A plain JSON object: not null, not an array. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `patch` applied to `target`: a `null` member removes the key, an object member merges into the target's member
 * (or into `{}`), anything else replaces it. A non-object patch replaces the whole target. Neither input changes;
 * the result is a fresh copy.
 */
export function applyMergePatch(target: JsonObject, patch: JsonObject): JsonObject;
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue;
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return structuredClone(patch);
  const result = new Map<string, JsonValue>(
    isJsonObject(target) ? Object.entries(structuredClone(target)) : [],
  );
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) result.delete(key);
    else result.set(key, applyMergePatch(result.get(key), value));
  }
  return toObject(result);
}

/** An object from entries, with `__proto__` kept as an ordinary member (a plain assignment would set the prototype). */
function toObject(entries: Map<string, JsonValue>): JsonObject {
  const object: JsonObject = {};
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return object;
}
