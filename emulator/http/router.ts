import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a route handler returns; objects are sent as JSON. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Takes the response over once its head is written, for a body that goes on (server-sent events). */
  stream?: (response: ServerResponse) => void;
}

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly type?: string,
  ) {
    super(title);
  }
}

/** RFC 7807 problem details. */
export function problem(status: number, title: string, detail?: string, type?: string): Reply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: { type: type ?? 'about:blank', title, status, ...(detail ? { detail } : {}) },
  };
}

export interface Request {
  method: string;
  url: URL;
  params: Record<string, string>;
  raw: IncomingMessage;
  /** The `Authorization: Bearer …` token, if any. */
  bearer(): string | undefined;
  /** The request body, refusing more than `limit` bytes with 413. */
  body(limit?: number): Promise<Buffer>;
  /** The body as JSON; 415 for another content type, 400 for malformed JSON. */
  json(limit?: number): Promise<unknown>;
}

export type Handler = (request: Request) => Reply | Promise<Reply>;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

const defaultBodyLimit = 1024 * 1024;

/** A small method + path router; `:name` matches one segment, a trailing `*` the rest of the path. */
export class Router {
  readonly #routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.#routes.push({ method, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** The handler for a request, or the status that says why there is none (404 or 405). */
  match(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string> } | { status: 404 | 405 } {
    const parts = path.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params };
    }
    return { status: pathMatched ? 405 : 404 };
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const segment = pattern[i]!;
    if (segment === '*') {
      if (i >= parts.length) return undefined;
      params['*'] = parts.slice(i).map(safeDecode).join('/');
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.startsWith(':')) params[segment.slice(1)] = safeDecode(part);
    else if (segment !== part) return undefined;
  }
  return parts.length === pattern.length ? params : undefined;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpProblem(400, 'Malformed URL', 'a path segment is not valid percent-encoding');
  }
}

export function createRequest(raw: IncomingMessage, url: URL, params: Record<string, string>): Request {
  let cached: Promise<Buffer> | undefined;
  const body = (limit = defaultBodyLimit) => {
    cached ??= readBody(raw, limit);
    return cached;
  };
  return {
    method: raw.method ?? 'GET',
    url,
    params,
    raw,
    bearer() {
      const header = raw.headers.authorization;
      const match = header ? /^Bearer\s+(.+)$/i.exec(header) : null;
      return match?.[1]?.trim();
    },
    body,
    async json(limit) {
      const type = raw.headers['content-type'] ?? '';
      if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
        throw new HttpProblem(415, 'Unsupported Media Type', 'the body must be application/json');
      }
      const bytes = await body(limit);
      try {
        return JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new HttpProblem(400, 'Malformed JSON', 'the request body is not valid JSON');
      }
    },
  };
}

function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(raw.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpProblem(413, 'Payload Too Large', `the body may not exceed ${limit} bytes`));
      raw.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpProblem(413, 'Payload Too Large', `the body may not exceed ${limit} bytes`));
        // Keep reading (and discarding) so the 413 can still be written; the server then closes the connection.
        raw.off('data', onData);
        raw.resume();
        return;
      }
      chunks.push(chunk);
    };
    raw.on('data', onData);
    raw.on('end', () => resolve(Buffer.concat(chunks)));
    raw.on('error', reject);
  });
}
