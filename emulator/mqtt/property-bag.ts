/** Parses an IoT Hub property bag (`a=1&b=x%20y`); undefined when it is not well formed. */
export function parsePropertyBag(bag: string): Record<string, string> | undefined {
  const properties: Record<string, string> = {};
  if (bag === '') return properties;
  for (const part of bag.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      if (key === '') return undefined;
      properties[key] = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch {
      return undefined;
    }
  }
  return properties;
}

export function formatPropertyBag(properties: Record<string, string>): string {
  return Object.entries(properties)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}
