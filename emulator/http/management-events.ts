import type { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { EmulatorContext } from '../context.js';
import { formatEvent, type PublishedEvent } from '../live/event-bus.js';
import { managedBy, managementBase } from './management-auth.js';
import { problem } from './problem.js';
import type { HttpApp } from './server.js';

/** A comment line is written this often, so idle streams stay open through proxies and dead ones are noticed. */
export const heartbeatMs = 15_000;
/** A stream that falls this far behind (a client that stopped reading) is closed; the client resumes later. */
const maxBufferedBytes = 4 * 1024 * 1024;
/** Most live streams open at once. */
const maxStreams = 100;

/**
 * `GET /workspaces/{ws}/events`: the workspace's live events as server-sent events (`text/event-stream`), for the
 * portal. Authenticated like every management call, with the API token in the `Authorization` header (the portal
 * reads the stream with fetch(), so the token never goes into a URL). A client that sends `Last-Event-ID` gets
 * the events it missed, if they are still known; the first `ready` event says whether that happened.
 */
export function addManagementEvents(app: HttpApp, context: EmulatorContext): { close(): void } {
  const streams = new Set<ServerResponse>();
  const managed = managedBy(context);

  app.get(
    `${managementBase}/events`,
    managed((c) => {
      if (streams.size >= maxStreams) {
        return problem(503, 'Too many live streams', `at most ${maxStreams} event streams can be open`);
      }
      const header = c.req.header('last-event-id');
      const missed = header ? context.events.since(header) : undefined;
      // Written on Node's response itself: the stream closes a client that stops reading (see serve), which a
      // web ReadableStream body would hide. The headers the middleware set so far (CORS) go along.
      const response = c.env.outgoing;
      response.writeHead(200, {
        ...Object.fromEntries(c.res.headers),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      response.flushHeaders();
      streams.add(response);
      serve(context, response, missed, () => streams.delete(response));
      return RESPONSE_ALREADY_SENT;
    }),
  );

  return {
    close() {
      for (const response of streams) response.end();
      streams.clear();
    },
  };
}

function serve(
  context: EmulatorContext,
  response: ServerResponse,
  missed: PublishedEvent[] | undefined,
  done: () => void,
): void {
  response.socket?.setNoDelay(true);
  const write = (text: string) => {
    if (response.destroyed || response.writableEnded) return;
    response.write(text);
    if (response.writableLength > maxBufferedBytes) {
      context.log.warn('live event stream closed: the client is not reading');
      response.destroy();
    }
  };
  for (const event of missed ?? []) write(formatEvent(event));
  write(`event: ready\ndata: ${JSON.stringify({ resumed: missed !== undefined })}\n\n`);
  const unsubscribe = context.events.subscribe((event) => write(formatEvent(event)));
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
  heartbeat.unref();
  response.once('close', () => {
    unsubscribe();
    clearInterval(heartbeat);
    done();
  });
}
