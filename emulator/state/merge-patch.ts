import { isJsonObject } from '../../src/twin/merge-patch.js';
import { invalidPropertyName, maxTwinDepth, nestsDeeperThan } from '../../src/twin/twin-rules.js';

// The core's RFC 7396 implementation: one merge patch for device and hub, `__proto__` kept as a plain member.
export { applyMergePatch, isJsonObject, type JsonObject } from '../../src/twin/merge-patch.js';

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
