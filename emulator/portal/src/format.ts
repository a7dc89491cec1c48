/** Formatting of times, sizes and payloads for display. Pure functions. */

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `14:03:07.123` in local time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `12 s ago`, `3 min ago`… */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never seen';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** `in 4:59`, `in 2 h 05 min`, or `expired`. */
export function countdown(iso: string, now = Date.now()): string {
  const left = Math.round((Date.parse(iso) - now) / 1000);
  if (left <= 0) return 'expired';
  if (left >= 3600) return `in ${Math.floor(left / 3600)} h ${pad(Math.floor((left % 3600) / 60))} min`;
  return `in ${Math.floor(left / 60)}:${pad(left % 60)}`;
}

/** Local date and time with the ISO text, for tooltips. */
export function localTime(iso: string | null): string {
  return iso ? `${new Date(iso).toLocaleString()} (${iso})` : '';
}

export function bytesLabel(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Byte length of base64 data without decoding it. */
export function base64Length(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}

/** Decodes at most `maxBytes` of base64 data. */
export function base64Bytes(b64: string, maxBytes = Number.POSITIVE_INFINITY): Uint8Array {
  const chars = Math.min(b64.length, Math.ceil(maxBytes / 3) * 4);
  const binary = atob(b64.slice(0, chars));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const looseUtf8 = new TextDecoder('utf-8');

/** Payload bytes as text; binary (not UTF-8) as hex. `truncated`: more bytes exist than were given. */
export function payloadText(bytes: Uint8Array, truncated: boolean): { text: string; binary: boolean } {
  try {
    return { text: strictUtf8.decode(bytes), binary: false };
  } catch {
    // A multi-byte character cut off by the truncation is fine; anything else is binary.
    if (truncated) {
      const text = looseUtf8.decode(bytes);
      if (!text.slice(0, -1).includes('\uFFFD')) return { text: text.replace(/\uFFFD$/, ''), binary: false };
    }
    const hex = Array.from(bytes.slice(0, 4096), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return { text: hex, binary: true };
  }
}

/** Text on one line: line breaks and tabs as spaces, other control characters as `·`. */
export function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return text.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '\u00b7');
}

export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? String(value);
}

/** JSON text pretty-printed when it parses, else unchanged. */
export function maybePretty(text: string): string {
  const trimmed = text.trim();
  if (!trimmed || !'{["'.includes(trimmed[0] ?? '')) return text;
  try {
    return prettyJson(JSON.parse(trimmed));
  } catch {
    return text;
  }
}
