/** Writes a C2D topic's property bag (any properties, URL-encoded; the core parses it on the device). */
export function formatPropertyBag(properties: Record<string, string>): string {
  return Object.entries(properties)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}
