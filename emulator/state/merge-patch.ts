import { invalidPropertyName, maxTwinDepth, nestsDeeperThan } from '../../src/twin/twin-rules.js';

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

export { maxTwinDepth, nestsDeeperThan };

/** Why a twin patch (desired from the management API, reported from a device) is refused. */
export interface TwinPatchProblem {
  title: string;
  detail: string;
}

/**
 * Checks a twin merge patch the way IoT Hub does: a JSON object, nesting at most `maxTwinDepth` levels, with valid
 * property names. Returns why it is refused, or undefined when it may be applied.
 */
export function twinPatchProblem(patch: unknown): TwinPatchProblem | undefined {
  if (!isJsonObject(patch))
    return { title: 'Invalid patch', detail: 'a JSON merge patch object is required' };
  if (nestsDeeperThan(patch, maxTwinDepth)) {
    return { title: 'Patch too deep', detail: `twin properties nest at most ${maxTwinDepth} levels` };
  }
  // `$version` and other metadata keys may stand at the top level (they are dropped, never stored).
  const badName = invalidPropertyName(patch, true);
  if (badName !== undefined) return { title: 'Invalid property name', detail: `property names ${badName}` };
  return undefined;
}
