import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorLogger } from '../log.js';
import { createRequest, HttpProblem, problem, type Reply, type Router } from './router.js';

const corsHeaders = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers':
    'authorization, content-type, last-event-id, x-ms-blob-type, x-ms-version, x-ms-date',
  'access-control-expose-headers': 'content-type, location',
  'access-control-max-age': '600',
};

/** Turns a router into a `node:http` request listener: CORS on every route, problem details on every failure. */
export function createRequestListener(router: Router, log: EmulatorLogger) {
  return (raw: IncomingMessage, res: ServerResponse): void => {
    respond(router, log, raw, res).catch((error: unknown) => {
      // respond() handles its own failures; this is the last line, so nothing can become an unhandled rejection.
      log.error('request failed', { path: raw.url?.split('?')[0], error: String(error) });
      if (!res.destroyed) res.destroy();
    });
  };
}

async function respond(router: Router, log: EmulatorLogger, raw: IncomingMessage, res: ServerResponse) {
  const method = raw.method ?? 'GET';
  let reply: Reply;
  try {
    const url = new URL(raw.url ?? '/', 'http://emulator.invalid');
    if (method === 'OPTIONS') {
      reply = { status: 204 };
    } else {
      const found = router.match(method, url.pathname);
      if ('status' in found) {
        reply = found.status === 404 ? problem(404, 'Not Found') : problem(405, 'Method Not Allowed');
      } else {
        reply = await found.handler(createRequest(raw, url, found.params));
      }
    }
  } catch (error) {
    if (error instanceof HttpProblem) {
      reply = problem(error.status, error.title, error.detail, error.type);
    } else {
      log.error('request failed', { method, path: raw.url?.split('?')[0], error: String(error) });
      reply = problem(500, 'Internal Server Error');
    }
  }
  if (reply.status >= 400) {
    log.info('request refused', { method, path: raw.url?.split('?')[0], status: reply.status });
  }
  try {
    send(res, reply);
  } catch (error) {
    // A reply that cannot be written (say a body JSON.stringify cannot serialise) becomes a 500, never a crash.
    log.error('response could not be sent', { method, path: raw.url?.split('?')[0], error: String(error) });
    send(res, problem(500, 'Internal Server Error', 'the response could not be serialised'));
  }
}

/** Writes the reply; throws (before writing anything) when its body cannot be serialised. */
function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { ...corsHeaders, ...reply.headers };
  if (reply.stream) {
    res.writeHead(reply.status, headers);
    res.flushHeaders();
    reply.stream(res);
    return;
  }
  let body: Buffer | undefined;
  if (reply.body instanceof Buffer) {
    body = reply.body;
  } else if (typeof reply.body === 'string') {
    body = Buffer.from(reply.body);
  } else if (reply.body !== undefined) {
    body = Buffer.from(JSON.stringify(reply.body));
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  if (reply.status === 413) headers.connection = 'close';
  res.writeHead(reply.status, headers);
  res.end(body);
}
