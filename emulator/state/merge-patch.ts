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

/** IoT Hub's limit on the nesting of twin property objects. */
export const maxTwinDepth = 10;

/** True when objects nest deeper than `limit` levels (checked without deep recursion on hostile input). */
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

/** IoT Hub's twin property names: non-empty, up to 1 KB, no `.`, `$`, space or control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const invalidKeyCharacter = /[.$ \u0000-\u001f\u007f-\u009f]/;

/** True when some key at any depth breaks IoT Hub's naming rule (`$version` etc. at the top level are allowed). */
export function hasInvalidTwinKey(value: unknown): boolean {
  const stack: { value: unknown; top: boolean }[] = [{ value, top: true }];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (typeof next.value !== 'object' || next.value === null) continue;
    if (!Array.isArray(next.value)) {
      for (const key of Object.keys(next.value)) {
        if (next.top && key.startsWith('$')) continue;
        if (key.length === 0 || Buffer.byteLength(key) > 1024 || invalidKeyCharacter.test(key)) return true;
      }
    }
    for (const child of Object.values(next.value)) stack.push({ value: child, top: false });
  }
  return false;
}
