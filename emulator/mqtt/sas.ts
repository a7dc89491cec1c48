import { createHmac, timingSafeEqual } from 'node:crypto';

/** encodeURIComponent plus the characters IoT Hub also escapes in a resource URI. */
export function encodeStrict(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function sign(base64Key: string, encodedResource: string, expiry: number): string {
  return createHmac('sha256', Buffer.from(base64Key, 'base64'))
    .update(`${encodedResource}\n${expiry}`)
    .digest('base64');
}

/** An IoT Hub device SAS token: `SharedAccessSignature sr=…&sig=…&se=…`. */
export function createSasToken(resourceUri: string, base64Key: string, expiresAtSeconds: number): string {
  const sr = encodeStrict(resourceUri);
  return `SharedAccessSignature sr=${sr}&sig=${encodeStrict(sign(base64Key, sr, expiresAtSeconds))}&se=${expiresAtSeconds}`;
}

export interface ParsedSasToken {
  /** The resource as it appears in the token (URL-encoded, as signed). */
  sr: string;
  sig: string;
  se: number;
}

export function parseSasToken(token: string): ParsedSasToken | undefined {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = Number(fields.get('se'));
  if (!sr || !sig || !Number.isSafeInteger(se)) return undefined;
  try {
    return { sr, sig: decodeURIComponent(sig), se };
  } catch {
    return undefined;
  }
}

export type SasVerdict = 'valid' | 'malformed' | 'wrong-resource' | 'bad-signature' | 'expired';

/** The verdict, and for a valid token when it expires (seconds since the epoch). */
export type SasCheck = { verdict: 'valid'; expiresAt: number } | { verdict: Exclude<SasVerdict, 'valid'> };

/**
 * Checks a device SAS token the way IoT Hub does: it must name `…/devices/{hubDeviceId}`, carry an HMAC-SHA256
 * of `sr + "\n" + se` made with the device key, and not be expired. The host part of `sr` is not compared, so a
 * device may reach the emulator under any local name.
 */
export function verifySasToken(
  token: string,
  hubDeviceId: string,
  base64Key: string,
  nowSeconds: number,
): SasCheck {
  const parsed = parseSasToken(token);
  if (!parsed) return { verdict: 'malformed' };
  let resource: string;
  try {
    resource = decodeURIComponent(parsed.sr);
  } catch {
    return { verdict: 'malformed' };
  }
  if (!resource.toLowerCase().endsWith(`/devices/${hubDeviceId}`.toLowerCase()))
    return { verdict: 'wrong-resource' };
  const expected = Buffer.from(sign(base64Key, parsed.sr, parsed.se));
  const given = Buffer.from(parsed.sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given))
    return { verdict: 'bad-signature' };
  if (parsed.se <= nowSeconds) return { verdict: 'expired' };
  return { verdict: 'valid', expiresAt: parsed.se };
}
