import { connect, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { closed } from './device-mqtt.js';

/** A plain TCP connection for sending bytes no well-behaved client would send. */
export class RawConnection {
  readonly #socket: Socket;
  readonly #chunks: Buffer[] = [];
  readonly #closed: Promise<void>;
  #isClosed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
    // A reset by the server is a close like any other here.
    socket.on('error', () => {});
    this.#closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        resolve();
      }),
    );
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.#socket.write(bytes);
  }

  /** Everything the server has sent so far. */
  received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Resolves once at least `count` bytes arrived (or the connection closed, or the time ran out). */
  async waitForBytes(count: number, timeoutMs = 2000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.received().length < count && !this.#isClosed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.received();
  }

  /** True when the server closed the connection within the time. */
  async waitForClose(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const closed = await Promise.race([this.#closed.then(() => true), timeout]);
    clearTimeout(timer);
    return closed;
  }

  /** Sends a FIN after what was written (the server reads everything first), keeping the socket to see its close. */
  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** True when the broker closes the client's connection within the time, false when it stays open. */
export function closedWithin(client: MqttClient, timeoutMs = 2000): Promise<boolean> {
  return closed(client, timeoutMs).then(
    () => true,
    () => false,
  );
}
