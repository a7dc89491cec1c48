import { createServer as createHttpServer, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { EmulatorLogger } from '../log.js';
import { replayStream } from './replay-stream.js';
import { webSocketStream } from './websocket-stream.js';

const mqttConnectByte = 0x10;
const tlsHandshakeByte = 0x16;
/** A connection that sends nothing for this long is dropped before any protocol sees it. */
const sniffTimeoutMs = 10_000;
export const webSocketPath = '/$iothub/websocket';

export interface OnePortOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  http: RequestListener;
  mqtt: (stream: Duplex, request?: IncomingMessage) => void;
  log: EmulatorLogger;
}

export interface OnePortListener {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves HTTP, MQTT and MQTT over WebSocket on one port, each in plain text or TLS, by looking at the first
 * byte of each connection (SPEC §6, the one-port rule): 0x16 starts a TLS handshake, 0x10 an MQTT CONNECT,
 * anything else is HTTP (including the WebSocket upgrade at `/$iothub/websocket`).
 */
export async function listenOnePort(options: OnePortOptions): Promise<OnePortListener> {
  const secureContext = createSecureContext({ cert: options.tls.cert, key: options.tls.key });
  const httpServer = createHttpServer({ requestTimeout: 60_000, headersTimeout: 20_000 }, options.http);
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  });
  httpServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
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
    socket.setTimeout(sniffTimeoutMs, () => socket.destroy());
    socket.once('data', (head: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      if (head[0] === tlsHandshakeByte && !secure) {
        const tlsSocket = new TLSSocket(replayStream(socket as Socket, head) as unknown as Socket, {
          isServer: true,
          secureContext,
        });
        tlsSocket.once('secure', () => route(tlsSocket, true));
        tlsSocket.on('error', (error) => {
          options.log.debug('TLS handshake failed', { error: error.message });
          socket.destroy();
        });
        return;
      }
      socket.unshift(head);
      if (head[0] === mqttConnectByte) {
        options.mqtt(socket);
      } else {
        httpServer.emit('connection', socket);
      }
      socket.resume();
    });
  };

  const server: Server = createNetServer((socket) => route(socket, false));
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
