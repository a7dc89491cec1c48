import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { EmulatorLogger } from '../log.js';
import { replayStream } from './replay-stream.js';
import { webSocketStream } from './websocket-stream.js';

const mqttConnectByte = 0x10;
const tlsHandshakeByte = 0x16;
export const webSocketPath = '/$iothub/websocket';

/** How long a connection may sit in each phase before it is dropped (all in milliseconds). */
export interface ConnectionTimeouts {
  /** From accepting a connection (or finishing TLS) to its first byte. */
  firstByteMs: number;
  /** From a TLS ClientHello's first byte to a finished handshake. */
  tlsHandshakeMs: number;
  /** An HTTP connection without a complete request head: from its first byte, or from the previous response. */
  httpIdleMs: number;
  /** From a request's head to the last byte of its body. */
  httpBodyMs: number;
}

export const defaultConnectionTimeouts: ConnectionTimeouts = {
  firstByteMs: 10_000,
  tlsHandshakeMs: 10_000,
  httpIdleMs: 30_000,
  httpBodyMs: 120_000,
};

/** Most connections open at once; more are closed as soon as they are accepted. */
export const defaultMaxConnections = 1000;

export interface OnePortOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  http: RequestListener;
  mqtt: (stream: Duplex, request?: IncomingMessage) => void;
  log: EmulatorLogger;
  timeouts?: Partial<ConnectionTimeouts>;
  maxConnections?: number;
}

export interface OnePortListener {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves HTTP, MQTT and MQTT over WebSocket on one port, each in plain text or TLS, by looking at the first
 * byte of each connection (SPEC §6, the one-port rule): 0x16 starts a TLS handshake, 0x10 an MQTT CONNECT,
 * anything else is HTTP (including the WebSocket upgrade at `/$iothub/websocket`).
 *
 * No connection is held by a client that stops talking: each phase has a deadline (see `ConnectionTimeouts`; MQTT
 * has aedes's CONNECT timeout and the keep-alive), and at most `maxConnections` are open at once.
 */
export async function listenOnePort(options: OnePortOptions): Promise<OnePortListener> {
  const timeouts = { ...defaultConnectionTimeouts, ...options.timeouts };
  const secureContext = createSecureContext({ cert: options.tls.cert, key: options.tls.key });
  // The server never listens itself (connections are handed to it), so its own header and request timeouts never
  // run: `watchHttp` below does that work.
  const httpServer = createHttpServer({}, options.http);
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  });
  const watchdogs = new WeakMap<Duplex, HttpWatchdog>();
  httpServer.on('request', (request: IncomingMessage, response: ServerResponse) => {
    watchdogs.get(request.socket)?.requestStarted(request, response);
  });
  httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // From here on the socket is a WebSocket: MQTT's own timeouts take over.
    watchdogs.get(socket)?.stop();
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path !== webSocketPath) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (ws) => {
      options.mqtt(webSocketStream(ws), request);
    });
  });
  httpServer.on('clientError', (error: Error & { code?: string }, socket) => {
    options.log.debug('malformed HTTP request', { error: error.message });
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
  });

  const sockets = new Set<Duplex>();
  const route = (socket: Socket | TLSSocket, secure: boolean) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (error) => options.log.debug('connection error', { error: error.message }));
    const silent = setTimeout(() => socket.destroy(), timeouts.firstByteMs);
    socket.once('close', () => clearTimeout(silent));
    socket.once('data', (head: Buffer) => {
      clearTimeout(silent);
      socket.pause();
      if (head[0] === tlsHandshakeByte && !secure) {
        const tlsSocket = new TLSSocket(replayStream(socket as Socket, head) as unknown as Socket, {
          isServer: true,
          secureContext,
        });
        const handshake = setTimeout(() => {
          options.log.debug('TLS handshake timed out');
          tlsSocket.destroy();
          socket.destroy();
        }, timeouts.tlsHandshakeMs);
        socket.once('close', () => clearTimeout(handshake));
        tlsSocket.once('secure', () => {
          clearTimeout(handshake);
          route(tlsSocket, true);
        });
        tlsSocket.on('error', (error) => {
          options.log.debug('TLS handshake failed', { error: error.message });
          socket.destroy();
        });
        return;
      }
      socket.unshift(head);
      // Handed on at the next turn, not from inside this 'data' event. TLS emits the records of one read in a loop,
      // so more of this read may still be on its way; paused, the socket queues them behind `head`. Node's HTTP server,
      // once it has a connection, reads the socket's native handle (TLS's too) directly, past the stream: handed the
      // connection now, it got the rest of this read before `head`, still in the stream. A connection's first request
      // whose body ran past one TLS record (16 KiB) was answered 400 (its body read as a request head): parallel
      // block uploads, each on a new connection, failed every time.
      setImmediate(() => {
        if (socket.destroyed) return;
        if (head[0] === mqttConnectByte) {
          options.mqtt(socket);
        } else {
          watchdogs.set(socket, new HttpWatchdog(socket, timeouts));
          httpServer.emit('connection', socket);
        }
        socket.resume();
      });
    });
  };

  const server: Server = createNetServer((socket) => route(socket, false));
  server.maxConnections = options.maxConnections ?? defaultMaxConnections;
  // Refusals are logged at most every 10 s (a flood must not turn into a flood of log lines).
  let dropped = 0;
  let droppedLogged = 0;
  server.on('drop', () => {
    dropped++;
    if (Date.now() - droppedLogged < 10_000) return;
    droppedLogged = Date.now();
    options.log.warn('connections refused: too many open connections', {
      maxConnections: server.maxConnections,
      refusedSoFar: dropped,
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        webSockets.close();
        httpServer.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The deadlines of one HTTP connection: waiting for a request head (`httpIdleMs`, which also ends idle keep-alive
 * connections), then for the body (`httpBodyMs`); none while the emulator works on the answer.
 */
class HttpWatchdog {
  #timer: NodeJS.Timeout | undefined;
  #open = 0;
  #stopped = false;

  constructor(
    private readonly socket: Duplex,
    private readonly timeouts: ConnectionTimeouts,
  ) {
    this.#arm(timeouts.httpIdleMs);
    socket.once('close', () => this.stop());
  }

  requestStarted(request: IncomingMessage, response: ServerResponse): void {
    if (this.#stopped) return;
    this.#open++;
    // A handler need not read the body (so 'end' may never come): at the deadline, a request whose body has
    // arrived in full is left alone.
    this.#arm(this.timeouts.httpBodyMs, () => request.complete);
    request.once('end', () => {
      if (this.#open > 0) this.#disarm();
    });
    response.once('close', () => {
      this.#open--;
      if (this.#open === 0 && !this.#stopped) this.#arm(this.timeouts.httpIdleMs);
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #arm(ms: number, spare: () => boolean = () => false): void {
    this.#disarm();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!spare()) this.socket.destroy();
    }, ms);
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
