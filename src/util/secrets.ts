/**
 * The secrets a client holds (provisioning token, registration tokens, SAS tokens and their signatures, blob SAS
 * tokens), so that any text from a server that reaches an error message or a log can be scrubbed of them: a server
 * that reflects a request's `Authorization` header in its problem `title` must not get a token into an error.
 * The SDK's own messages never quote a secret (errors.ts); this is for text the SDK does not write itself.
 */

/** Shorter strings are not taken as secrets (they would match ordinary words). */
const minSecretLength = 8;
/** Secrets remembered besides the pinned ones: old SAS tokens drop out as new ones come (every hour or so). */
const maxRemembered = 64;
const redacted = '[redacted]';

export class Secrets {
  /** Never forgotten (the provisioning token). */
  readonly #pinned = new Set<string>();
  /** Insertion-ordered: the oldest is forgotten first. */
  readonly #recent = new Set<string>();
  #longestFirst: string[] | undefined;

  /** Remembers `value` (and its URL-encoded and decoded forms; for a SAS token, its signature too). */
  add(value: string | undefined, options: { pinned?: boolean } = {}): void {
    if (typeof value !== 'string' || value.length < minSecretLength) return;
    const signature = /(?:^|[?&\s])sig=([^&\s;]+)/.exec(value)?.[1];
    for (const form of [...forms(value), ...(signature ? forms(signature) : [])]) {
      if (form.length < minSecretLength || this.#pinned.has(form)) continue;
      if (options.pinned) {
        this.#recent.delete(form);
        this.#pinned.add(form);
      } else {
        this.#recent.delete(form); // re-added as the newest
        this.#recent.add(form);
        if (this.#recent.size > maxRemembered) this.#recent.delete(this.#recent.values().next().value!);
      }
      this.#longestFirst = undefined;
    }
  }

  /** `text` with every known secret, and anything shaped like a bearer token, SAS or signature, replaced. */
  scrub(text: string): string {
    this.#longestFirst ??= [...this.#pinned, ...this.#recent].sort((a, b) => b.length - a.length);
    let out = text;
    for (const secret of this.#longestFirst) {
      if (out.includes(secret)) out = out.split(secret).join(redacted);
    }
    return scrubShapes(out);
  }
}

/**
 * Replaces what looks like a credential whoever it belongs to: `Bearer …`, `SharedAccessSignature …`, `sig=…`
 * (so a token the client no longer remembers, or a part of one a server cut short, does not get through either).
 */
export function scrubShapes(text: string): string {
  return text
    .replace(/\b(Bearer|SharedAccessSignature)(\s+)[^\s"',;]+/gi, `$1$2${redacted}`)
    .replace(/\b(sig|signature)=[^&\s"',;]+/gi, `$1=${redacted}`);
}

function forms(value: string): string[] {
  const out = [value, encodeURIComponent(value)];
  try {
    out.push(decodeURIComponent(value));
  } catch {
    // not percent-encoded
  }
  return out;
}
