/**
 * JSON merge patch (RFC 7396), the language of device twins: desired changes arrive as merge patches, and
 * reported changes are sent as merge patches. Pending reported patches are combined while the device is offline,
 * so that only one patch per burst of updates goes out when it reconnects.
 */

/** A JSON value as the twin holds it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object (not an array, not null). */
export type JsonObject = { [key: string]: JsonValue };

/** True for a plain JSON object: not null, not an array. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Applies `patch` to `target` as RFC 7396 says: a `null` member deletes the key, an object member merges into the
 * target's member (into `{}` when that is not an object), anything else — arrays included — replaces. A patch
 * that is not an object replaces the whole target.
 *
 * Neither input is modified, and the result shares no objects or arrays with them, so it can be kept and changed
 * freely (twin documents are small, the copy is cheap).
 */
export function applyMergePatch(target: JsonObject, patch: JsonObject): JsonObject;
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue;
export function applyMergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return cloneJson(patch);
  const result: JsonObject = {};
  if (isJsonObject(target)) {
    for (const [key, value] of Object.entries(target)) setMember(result, key, cloneJson(value));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      setMember(result, key, applyMergePatch(ownMember(result, key), value));
    }
  }
  return result;
}

/**
 * Combines two patches, `earlier` then `later`, into one patch with the same effect on every JSON doc:
 * `applyMergePatch(doc, combined)` equals `applyMergePatch(applyMergePatch(doc, earlier), later)` for all `doc`.
 *
 * Returns `undefined` when no single merge patch can do that, and the two must stay separate (sent in order).
 * This happens exactly when `later` puts an object where `earlier` put a non-object (null, scalar or array):
 * after both, that member is precisely `later`'s object, whatever the JSON doc held before; but a merge patch
 * can only add to an object that is already there, it cannot also remove the unknown keys the JSON doc might
 * have had. (`{a: 5}` then `{a: {b: 1}}`: applied to `{a: {c: 2}}` the two give `{a: {b: 1}}`, while
 * `{a: {b: 1}}` alone would give `{a: {b: 1, c: 2}}`.)
 *
 * Otherwise the combination keeps `later`'s nulls (a later delete stays a delete, it does not just vanish from the
 * patch) and merges objects member by member. Inputs are not modified; the result shares nothing with them.
 */
export function mergePatches(earlier: JsonObject, later: JsonObject): JsonObject | undefined {
  const combined = composePatches(earlier, later);
  return combined === NOT_REPRESENTABLE ? undefined : (combined as JsonObject);
}

const NOT_REPRESENTABLE = Symbol('not representable as one merge patch');

/** The patch equivalent to `earlier` then `later`, at any depth. */
function composePatches(earlier: JsonValue, later: JsonValue): JsonValue | typeof NOT_REPRESENTABLE {
  // A non-object `later` (null, scalar, array) sets the member outright: what came before does not matter.
  if (!isJsonObject(later)) return cloneJson(later);
  // An object over a non-object: the result is exactly `later` (nulls dropped), whatever the JSON doc held.
  if (!isJsonObject(earlier)) return NOT_REPRESENTABLE;
  const combined = cloneJson(earlier) as JsonObject;
  for (const [key, value] of Object.entries(later)) {
    const previous = ownMember(earlier, key);
    const member = previous === undefined ? cloneJson(value) : composePatches(previous, value);
    if (member === NOT_REPRESENTABLE) return NOT_REPRESENTABLE;
    setMember(combined, key, member);
  }
  return combined;
}

/** A deep copy of a JSON value. */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneJson(item)) as T;
  if (isJsonObject(value)) {
    const copy: JsonObject = {};
    for (const [key, member] of Object.entries(value)) setMember(copy, key, cloneJson(member));
    return copy as T;
  }
  return value;
}

/** `object[key]` when it is an own member; `undefined` otherwise (so `__proto__` is never read from Object.prototype). */
function ownMember(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/** `object[key] = value`, as an own data member even for `__proto__` (no prototype change). */
function setMember(object: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}
