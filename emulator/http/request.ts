import type { IncomingMessage } from 'node:http';
import { HttpProblem } from './problem.js';
import type { HttpContext } from './server.js';

const defaultBodyLimit = 1024 * 1024;

/** Bodies already read, so a handler may ask for the bytes and then the JSON. */
const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

/** The `Authorization: Bearer …` token, if any. */
export function bearer(c: HttpContext): string | undefined {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
  return match?.[1]?.trim();
}

/**
 * The request body, refusing more than `limit` bytes with 413. Read from Node's request rather than hono's
 * `bodyLimit`, because some limits are only known inside the handler (the room a blob has left).
 */
export function readBody(c: HttpContext, limit = defaultBodyLimit): Promise<Buffer> {
  const incoming = c.env.incoming;
  let body = bodies.get(incoming);
  if (!body) {
    body = collect(incoming, limit);
    bodies.set(incoming, body);
  }
  return body;
}

/** The body as JSON; 415 for another content type, 400 for malformed JSON. */
export async function readJson(c: HttpContext, limit?: number): Promise<unknown> {
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new HttpProblem(415, 'Unsupported Media Type', 'the body must be application/json');
  }
  const bytes = await readBody(c, limit);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'Malformed JSON', 'the request body is not valid JSON');
  }
}

/** The query string's parameters (null for an absent one, as URLSearchParams has it). */
export function queryOf(c: HttpContext): URLSearchParams {
  return new URL(c.req.url).searchParams;
}

function collect(incoming: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpProblem(413, 'Payload Too Large', `the body may not exceed ${limit} bytes`);
  return new Promise((resolve, reject) => {
    const declared = Number(incoming.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge());
      incoming.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(tooLarge());
        // Keep reading (and discarding) so the 413 can still be written; the reply then closes the connection.
        incoming.off('data', onData);
        incoming.resume();
        return;
      }
      chunks.push(chunk);
    };
    incoming.on('data', onData);
    incoming.on('end', () => resolve(Buffer.concat(chunks)));
    incoming.on('error', reject);
  });
}
