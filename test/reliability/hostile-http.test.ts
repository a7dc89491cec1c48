/**
 * Hostile HTTP servers over real sockets: the provisioning API and the hub's file-upload endpoints answering with a
 * body that never ends, or one of 50 MB. Each call ends with a typed error within its deadline, headers and body
 * together, without reading the whole body. (A stand-in server: the emulator cannot be made to misbehave.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpotflowError } from '../../src/errors.js';
import { FileUploader } from '../../src/outbox/upload.js';
import { ProvisioningApi } from '../../src/provisioning/api.js';
import { Secrets } from '../../src/util/secrets.js';
import { realClock } from '../helpers/clock.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler = (_, response) => response.end();
const sockets = new Set<Socket>();
/** Bytes the server managed to hand to the kernel for the current answer. */
let written = 0;

beforeAll(async () => {
  server = createServer((request, response) => handler(request, response));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Headers at once, then part of a JSON body, then nothing. */
const stallingBody: Handler = (_, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.write('{"registrationToken":"');
};

/** 50 MB of JSON-looking bytes, streamed (chunked) or announced (Content-Length). */
function hugeBody(announce: boolean): Handler {
  return (_, response) => {
    const total = 50 * 1024 * 1024;
    response.writeHead(200, {
      'content-type': 'application/json',
      ...(announce ? { 'content-length': String(total) } : {}),
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    written = 0;
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!response.write(chunk)) {
          response.once('drain', pump);
          return;
        }
      }
      response.end();
    };
    pump();
  };
}

async function failure(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

describe('the provisioning API against a hostile server', () => {
  const api = () => new ProvisioningApi(base, fetch, realClock(), { timeoutMs: 1500 });

  it('a body that never ends: TIMEOUT at the deadline, not undici’s 300 s', async () => {
    handler = stallingBody;
    const { error, ms } = await failure(api().complete('token', 'op'));
    expect(isSpotflowError(error, 'TIMEOUT')).toBe(true);
    // Node counts a timer from the event loop's cached time, which lags the real time by however long the current
    // turn has run: under a loaded CI the 1.5 s deadline fired 1,395 ms after the call (measured from here).
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(ms).toBeLessThan(1500 + 2000);
  });

  it('a 50 MB body, announced or streamed: PROTOCOL without reading it all', async () => {
    for (const announce of [true, false]) {
      handler = hugeBody(announce);
      const { error, ms } = await failure(api().register('token'));
      expect(isSpotflowError(error, 'PROTOCOL')).toBe(true);
      expect((error as Error).message).toBe("The platform's answer to register is larger than 1048576 bytes");
      expect(ms).toBeLessThan(1500);
      expect(written).toBeLessThan(20 * 1024 * 1024);
    }
  });
});

describe('a server that reflects the Authorization header', () => {
  /** Answers with `status` and a problem whose title quotes the request's Authorization header and body. */
  function reflecting(status: number): Handler {
    return (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        response.writeHead(status, { 'content-type': 'application/problem+json' });
        response.end(
          JSON.stringify({ title: `bad token ${request.headers.authorization} in ${body}`, status }),
        );
      });
    };
  }

  it('never gets a token into an error message, whatever the call', async () => {
    const secrets = new Secrets();
    const provisioningToken = 'PROVISIONING-TOKEN-c0ffee-123456';
    secrets.add(provisioningToken, { pinned: true });
    const registrationToken = 'REGISTRATION/TOKEN+c0ffee=';
    const api = new ProvisioningApi(base, fetch, realClock(), { timeoutMs: 5000, secrets });
    const messages: string[] = [];
    handler = reflecting(400);
    const rejected = await failure(api.init(provisioningToken, 'dev'));
    expect(isSpotflowError(rejected.error, 'PROVISIONING_REJECTED')).toBe(true);
    messages.push((rejected.error as Error).message);
    handler = reflecting(404);
    for (const call of [
      api.complete(provisioningToken, 'op'),
      api.refresh(provisioningToken, registrationToken),
      api.register(registrationToken),
    ]) {
      const { error } = await failure(call);
      expect(isSpotflowError(error, 'PROTOCOL')).toBe(true);
      messages.push((error as Error).message);
    }
    expect(messages[0]).toBe(
      'The platform refused provisioning: bad token Bearer [redacted] in {"deviceId":"dev"}',
    );
    for (const message of messages) {
      for (const secret of [provisioningToken, registrationToken, encodeURIComponent(registrationToken)]) {
        expect(message).not.toContain(secret);
      }
      expect(message).toContain('[redacted]');
    }
  });
});

describe('file upload against a hostile hub', () => {
  const credentials = {
    hostName: '',
    hubDeviceId: 'ws:dev',
    workspaceId: 'ws',
    deviceId: 'dev',
    sasToken: 'SharedAccessSignature sr=x&sig=SECRET-SIGNATURE&se=1',
    sasExpiresAt: new Date(Date.UTC(2030, 0, 1)),
  };

  it('an upload session answer that never ends: TIMEOUT at the deadline', async () => {
    handler = stallingBody;
    const host = new URL(base).host;
    const uploader = new FileUploader(base, fetch, realClock(), { timeoutMs: 1500 });
    const { error, ms } = await failure(
      uploader.upload({ ...credentials, hostName: host }, 'mid', new Uint8Array(300_000), () => {}),
    );
    expect(isSpotflowError(error, 'TIMEOUT')).toBe(true);
    expect(ms).toBeLessThan(1500 + 2000);
  });

  it('a 50 MB answer from the hub: PROTOCOL without reading it all', async () => {
    handler = hugeBody(false);
    const host = new URL(base).host;
    const uploader = new FileUploader(base, fetch, realClock(), { timeoutMs: 10_000 });
    const { error, ms } = await failure(
      uploader.upload({ ...credentials, hostName: host }, 'mid', new Uint8Array(300_000), () => {}),
    );
    expect(isSpotflowError(error, 'PROTOCOL')).toBe(true);
    expect(ms).toBeLessThan(3000);
    expect(written).toBeLessThan(20 * 1024 * 1024);
  });

  /** Answers every request with `status`, `type` and `body` (a function of the request's Authorization header). */
  function answering(status: number, type: string, body: (authorization: string) => string): Handler {
    return (request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(status, { 'content-type': type });
        response.end(body(request.headers.authorization ?? ''));
      });
    };
  }

  const session = {
    correlationId: 'c',
    hostName: 'localhost:1',
    containerName: 'c',
    blobName: 'b',
    sasToken: '?sv=1',
  };
  it.each([
    ['JSON that does not parse', answering(200, 'application/json', () => '{"correlationId": '), 'PROTOCOL'],
    ['an HTML page', answering(200, 'text/html', () => '<html><body>Sign in</body></html>'), 'PROTOCOL'],
    [
      'a session without its SAS token',
      answering(200, 'application/json', () => JSON.stringify({ ...session, sasToken: undefined })),
      'PROTOCOL',
    ],
    [
      'fields of the wrong type',
      answering(200, 'application/json', () => JSON.stringify({ ...session, blobName: 5 })),
      'PROTOCOL',
    ],
    [
      'a host name that is a URL',
      answering(200, 'application/json', () => JSON.stringify({ ...session, hostName: 'evil.example/x?' })),
      'PROTOCOL',
    ],
    ['500, again and again', answering(500, 'text/plain', () => 'internal error'), 'UPLOAD_FAILED'],
    [
      'a 400 problem quoting the Authorization header',
      answering(400, 'application/problem+json', (auth) => JSON.stringify({ title: `bad ${auth}` })),
      'UPLOAD_FAILED',
    ],
    [
      'a 200 whose fields quote the Authorization header',
      answering(200, 'application/json', (auth) => JSON.stringify({ ...session, hostName: auth })),
      'PROTOCOL',
    ],
  ] as const)('%s: a typed error within the deadline, no SAS in it', async (_, hostile, code) => {
    handler = hostile;
    const host = new URL(base).host;
    const uploader = new FileUploader(base, fetch, realClock(), { timeoutMs: 1500 });
    const { error, ms } = await failure(
      uploader.upload({ ...credentials, hostName: host }, 'mid', new Uint8Array(300_000), () => {}),
    );
    expect(isSpotflowError(error, code), String(error)).toBe(true);
    expect(ms).toBeLessThan(1500 + 2000);
    const text = `${(error as Error).message} ${String((error as Error).cause ?? '')}`;
    expect(text).not.toContain('SECRET-SIGNATURE');
  });

  it('a block refused while others are in flight: UPLOAD_FAILED, no block starts after it, the rest are aborted, the hub hears of the failure', async () => {
    const host = new URL(base).host;
    const started: number[] = [];
    const closedUnanswered = new Set<number>();
    // Settles when the server has heard the three unanswered blocks close (or after a bound).
    let allClosed!: () => void;
    const threeClosed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('the blocks in flight were not closed within 5 s')),
        5_000,
      );
      allClosed = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const notifications: { isSuccess: boolean }[] = [];
    handler = (request, response) => {
      const url = new URL(request.url ?? '/', base);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      if (url.pathname.endsWith('/files')) {
        request.on('end', () => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ ...session, hostName: host }));
        });
      } else if (url.pathname.endsWith('/files/notifications')) {
        request.on('end', () => {
          notifications.push(JSON.parse(Buffer.concat(chunks).toString()) as { isSuccess: boolean });
          response.writeHead(204).end();
        });
      } else if (url.searchParams.get('comp') === 'block') {
        const block = Number(atob(url.searchParams.get('blockid') ?? ''));
        started.push(block);
        // Block 2 is refused once it has all arrived; the others are never answered: only an abort ends them.
        if (block === 2) request.on('end', () => response.writeHead(500).end());
        else
          response.on('close', () => {
            closedUnanswered.add(block);
            if (closedUnanswered.size === 3) allClosed();
          });
      } else {
        response.writeHead(400).end();
      }
    };
    const uploader = new FileUploader(base, fetch, realClock(), { timeoutMs: 10_000 });
    const { error, ms } = await failure(
      uploader.upload({ ...credentials, hostName: host }, 'mid', new Uint8Array(10 * 1024 * 1024), () => {}),
    );
    expect(isSpotflowError(error, 'UPLOAD_FAILED'), String(error)).toBe(true);
    expect(ms).toBeLessThan(5_000);
    // Four blocks at a time: 0–3 started, and nothing after the refusal.
    expect([...started].sort()).toEqual([0, 1, 2, 3]);
    expect(notifications).toEqual([expect.objectContaining({ isSuccess: false })]);
    // The three left in flight were aborted by the client (the server hears the close a moment later).
    await threeClosed;
    expect([...closedUnanswered].sort()).toEqual([0, 1, 3]);
  });
});
