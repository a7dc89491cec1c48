import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * A stream over `socket` that first yields `head` (bytes already read while sniffing the protocol). TLS needs
 * this: it reads from the socket's handle directly and would never see bytes pushed back with `unshift`.
 */
export function replayStream(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  stream.push(head);
  socket.on('data', (chunk) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', (error) => stream.destroy(error));
  return stream;
}
