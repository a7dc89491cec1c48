import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { cors } from 'hono/cors';
import type { EmulatorLogger } from '../log.js';
import { HttpProblem, problem } from './problem.js';

/** Handlers reach Node's request and response through `c.env` (bodies with limits, server-sent events). */
export type HttpEnv = { Bindings: HttpBindings };
export type HttpApp = Hono<HttpEnv>;
export type HttpContext = Context<HttpEnv>;
export type HttpHandler = (c: HttpContext) => Response | Promise<Response>;

/** The path as sent, before any decoding. */
export function rawPath(c: HttpContext): string {
  return new URL(c.req.url).pathname;
}

/**
 * The emulator's HTTP app before its routes: CORS for any origin on every reply (OPTIONS answers 204), problem
 * details for every failure, a log line for every refusal (and a debug line for every request, which tests count).
 * Every answer carries a `Date` header read from `now`, the emulator's clock (Node's own would be the real time, not
 * a test's). Routes are added to it; {@link createRequestListener} then makes the `node:http` listener.
 */
export function createHttpApp(log: EmulatorLogger, now: () => number = Date.now): HttpApp {
  // Not strict: `/portal/` is `/portal`.
  const app = new Hono<HttpEnv>({ strict: false });
  app.use(
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowHeaders: [
        'authorization',
        'content-type',
        'last-event-id',
        'x-ms-blob-type',
        'x-ms-version',
        'x-ms-date',
      ],
      // `date`: the platform's time, which a device reads instead of trusting its own clock.
      exposeHeaders: ['content-type', 'location', 'date'],
      maxAge: 600,
    }),
  );
  app.use(async (c, next) => {
    await next();
    const fields = { method: c.req.method, path: rawPath(c), status: c.res.status };
    log.debug('request', fields);
    if (c.res.status >= 400) log.info('request refused', fields);
    // An answer that streams (server-sent events) has sent its headers already.
    if (!c.res.headers.has('date')) {
      try {
        c.res.headers.set('date', new Date(now()).toUTCString());
      } catch {
        // immutable headers: Node adds the real time
      }
    }
  });
  app.use(async (c, next) => {
    // hono hands a segment it cannot decode to the handler as sent; a device ID or blob name must not be that.
    for (const segment of rawPath(c).split('/')) {
      try {
        decodeURIComponent(segment);
      } catch {
        throw new HttpProblem(400, 'Malformed URL', 'a path segment is not valid percent-encoding');
      }
    }
    await next();
  });
  app.notFound(() => problem(404, 'Not Found'));
  app.onError((error, c) => {
    if (error instanceof HttpProblem) return problem(error.status, error.title, error.detail, error.type);
    log.error('request failed', { method: c.req.method, path: rawPath(c), error: String(error) });
    return problem(500, 'Internal Server Error');
  });
  return app;
}

/** A known path asked with another method is 405, not hono's 404. Runs after every route, so it only catches the rest. */
function refuseOtherMethods(app: HttpApp): void {
  const paths = new Set(app.routes.filter((route) => route.method !== 'ALL').map((route) => route.path));
  for (const path of paths) app.all(path, () => problem(405, 'Method Not Allowed'));
}

/** The app, with all its routes added, as a `node:http` request listener for the one-port listener. */
export function createRequestListener(app: HttpApp) {
  refuseOtherMethods(app);
  // Leaves the process's global Request and Response alone: the SDK under test may run in the same process.
  return getRequestListener(app.fetch, { overrideGlobalObjects: false });
}
