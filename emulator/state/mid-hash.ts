/**
 * A 53-bit hash of a device's `$.mid`, indexed instead of the text: an integer key keeps the duplicate index small
 * and cheap to insert into, where random UUIDs as text made that insert the costliest part of storing a message.
 * Rows whose hash matches are checked against the real device and mid, so a collision costs a row read, never a
 * wrong answer. Stored in the database: the function must never change (an old data dir would stop matching).
 */
export function midHash(deviceId: string, mid: string): number {
  // cyrb53 (public domain) over `deviceId NUL mid`, so one mid sent by many devices spreads over many keys.
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ code, 2654435761);
      h2 = Math.imul(h2 ^ code, 1597334677);
    }
  };
  mix(deviceId);
  mix('\u0000');
  mix(mid);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
