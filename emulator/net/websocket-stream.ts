import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * MQTT over a WebSocket as a byte stream for aedes. Unlike `ws`'s own `createWebSocketStream`, writes made in the
 * same tick go out as one binary frame (aedes writes a packet in several pieces), and ending the stream closes the
 * socket with a close frame after what was written, so a refusing CONNACK reaches the client before the close.
 */
export function webSocketStream(ws: WebSocket): Duplex {
  let pending: Buffer[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0 || ws.readyState !== ws.OPEN) return;
    const frame = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    ws.send(frame, { binary: true });
  };
  const stream = new Duplex({
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      pending.push(chunk);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      callback();
    },
    final(callback) {
      flush();
      ws.close(1000);
      callback();
    },
    destroy(error, callback) {
      flush();
      if (ws.readyState === ws.OPEN) ws.close(error ? 1011 : 1000);
      else if (ws.readyState === ws.CONNECTING) ws.terminate();
      callback(error);
    },
  });
  ws.on('message', (data: Buffer) => {
    // After the stream is gone, keep reading (and dropping) so the peer's close frame is still seen.
    if (stream.destroyed) return;
    if (!stream.push(data)) ws.pause();
  });
  ws.on('close', () => stream.push(null));
  ws.on('error', (error) => stream.destroy(error));
  return stream;
}
