/**
 * IoT Hub's rules for twin patches, as the emulator enforces them. Written apart from the SDK's own checks (which
 * refuse a bad patch at the call) so that a mistake in one is caught by the other: test/emulator/core-agreement.test.ts
 * runs both on the same cases. Walks are iterative, so hostile nesting cannot overflow the stack.
 */
import { isJsonObject } from './merge-patch.js';

/** How deep twin property objects may nest (IoT Hub: 10 levels). */
export const maxTwinDepth = 10;
/** Longest property name, in UTF-8 bytes. */
const maxNameBytes = 1024;
/** `.`, `$`, space and Unicode control characters (C0, DEL and C1) may not appear in a property name. */
const forbiddenInName = /[.$ \p{Cc}]/u;

/** True when objects or arrays nest more than `limit` levels deep (a scalar is level 0, `{}` level 1). */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [member, level] = next;
    if (typeof member !== 'object' || member === null) continue;
    if (level > limit) return true;
    for (const child of Object.values(member)) pending.push([child, level + 1]);
  }
  return false;
}

/** What is wrong with the first bad property name found, or undefined. `$`-keys are skipped at the top when allowed. */
function badPropertyName(patch: unknown, topLevelMetadata: boolean): string | undefined {
  const pending: [unknown, boolean][] = [[patch, true]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [member, top] = next;
    if (typeof member !== 'object' || member === null) continue;
    for (const [key, child] of Object.entries(member)) {
      pending.push([child, false]);
      if (Array.isArray(member) || (top && topLevelMetadata && key.startsWith('$'))) continue;
      if (key === '') return 'a property name is empty';
      if (Buffer.byteLength(key, 'utf8') > maxNameBytes)
        return `a property name is longer than ${maxNameBytes} bytes`;
      if (forbiddenInName.test(key))
        return "a property name contains '.', '$', a space or a control character";
    }
  }
  return undefined;
}

/** Why a twin patch is refused. */
export interface TwinPatchProblem {
  title: string;
  detail: string;
}

/**
 * Checks a twin merge patch as IoT Hub does: a JSON object nesting at most `maxTwinDepth` levels whose property
 * names follow the naming rule. `from` says who sent it: the service may put `$version`-like metadata at the top of
 * a desired patch (dropped, never stored); a device may not use `$` in a reported patch at all (IoT Hub answers 400).
 * Returns why it is refused, or undefined.
 */
export function twinPatchProblem(
  patch: unknown,
  from: 'service' | 'device' = 'service',
): TwinPatchProblem | undefined {
  if (!isJsonObject(patch))
    return { title: 'Invalid patch', detail: 'a JSON merge patch object is required' };
  if (nestsDeeperThan(patch, maxTwinDepth + 1)) {
    return { title: 'Patch too deep', detail: `twin properties nest at most ${maxTwinDepth} levels` };
  }
  const badName = badPropertyName(patch, from === 'service');
  return badName === undefined ? undefined : { title: 'Invalid property name', detail: badName };
}
