/**
 * IoT Hub property bags: the URL-encoded `key=value&…` tail of telemetry and cloud-to-device topics. The emulator's
 * own reading and writing, apart from the SDK's (test/emulator/core-agreement.test.ts compares the two).
 */

/** Writes a property bag: every key and value percent-encoded, joined with `&`. */
export function formatPropertyBag(properties: Record<string, string>): string {
  return Object.entries(properties)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}

/** A property bag the emulator cannot read (an empty key or broken percent-encoding). */
export class MalformedPropertyBag extends Error {}

/**
 * Reads a property bag as IoT Hub does: empty parts are skipped, a part without `=` has the value `''`, a repeated
 * key keeps its last value, and `+` stays a plus (IoT Hub percent-encodes spaces).
 * @throws MalformedPropertyBag
 */
export function parsePropertyBag(bag: string): Record<string, string> {
  const properties = new Map<string, string>();
  for (const part of bag.split('&').filter((p) => p !== '')) {
    const [rawKey = '', ...rest] = part.split('=');
    const key = percentDecoded(rawKey);
    if (key === '') throw new MalformedPropertyBag('a property has no name');
    properties.set(key, percentDecoded(rest.join('=')));
  }
  // Own data members, so a key such as `__proto__` stays an ordinary property.
  const result: Record<string, string> = {};
  for (const [key, value] of properties) {
    Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new MalformedPropertyBag('bad percent-encoding');
  }
}
