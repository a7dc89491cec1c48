import { invalidPropertyName } from '../../src/twin/twin-rules.js';

/** JSON merge patch (RFC 7396) as the device twin uses it: `null` deletes a key, objects merge, the rest replaces. */
export type JsonObject = { [key: string]: unknown };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function applyMergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const result: JsonObject = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else if (isJsonObject(value)) {
      result[key] = applyMergePatch(isJsonObject(result[key]) ? result[key] : {}, value);
    } else {
      result[key] = value;
    }
  }
  return result;
}

export { maxTwinDepth, nestsDeeperThan } from '../../src/twin/twin-rules.js';

/** True when some key at any depth breaks IoT Hub's naming rule (`$version` etc. at the top level are allowed). */
export function hasInvalidTwinKey(value: unknown): boolean {
  return invalidPropertyName(value, true) !== undefined;
}
