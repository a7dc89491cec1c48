import { timingSafeEqual } from 'node:crypto';
import { isJsonObject, type JsonObject } from '../state/merge-patch.js';
import { HttpProblem } from './problem.js';

export { deviceIdRule, isValidDeviceId } from './device-id.js';

export function requireObject(body: unknown): JsonObject {
  if (!isJsonObject(body))
    throw new HttpProblem(400, 'Invalid request body', 'the body must be a JSON object');
  return body;
}

export function requireString(body: JsonObject, field: string, maxLength = 1024): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new HttpProblem(
      400,
      `Invalid ${field}`,
      `${field} must be a non-empty string of at most ${maxLength} characters`,
    );
  }
  return value;
}

/** Constant-time comparison for secrets. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
