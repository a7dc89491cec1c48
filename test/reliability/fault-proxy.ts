/**
 * A small TCP fault proxy for the reliability suite: it sits between a device and the emulator on loopback and
 * forwards bytes both ways, unless told to misbehave. It knows nothing of MQTT, TLS or HTTP, so every transport
 * (plain TCP, TLS, WebSockets over TLS) goes through it unchanged.
 *
 * Faults:
 * - `reset()`: every open connection is reset (RST), as a NAT or a flaky access point does.
 * - `blackhole`: bytes are read and dropped in both directions; sockets stay open (nothing tells either side).
 * - `stall`: the proxy stops reading in both directions; bytes pile up in the kernel's buffers, as on a path that
 *   went silent (TCP's retransmissions would deliver them once it comes back).
 * - `throttle`: each direction is limited to `bytesPerSecond`.
 * - `down`: new connections are reset at once, open ones are reset too (the link is gone).
 * New connections get the mode of the moment; a mode change applies to open connections as well.
 */
import { createServer, type Server, Socket } from 'node:net';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'blackhole' }
  | { kind: 'stall' }
  | { kind: 'down' }
  | { kind: 'throttle'; bytesPerSecond: number };

export interface FaultProxyOptions {
  /** Where devices connect (e.g. 127.0.0.2 and the emulator's port). */
  listenHost: string;
  listenPort: number;
  /** The emulator. */
  targetHost: string;
  targetPort: number;
}

/** One direction of a proxied connection: reads `from`, writes `to`, obeying the proxy's mode. */
class Pipe {
  #queue: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Throttle credit, in bytes. */
  #credit = 0;
  #creditAt = performance.now();

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly proxy: FaultProxy,
    private readonly toDevice: boolean,
  ) {
    from.on('data', (chunk: Buffer) => {
      if (this.proxy.mode.kind === 'blackhole' || this.proxy.mode.kind === 'down') {
        if (!this.toDevice) this.proxy.droppedFromDevice += chunk.length;
        return; // dropped
      }
      this.#queue.push(chunk);
      this.pump();
    });
  }

  /** Writes what the mode allows now, pausing the source when it must wait. */
  pump(): void {
    if (this.to.destroyed) return;
    const mode = this.proxy.mode;
    if (mode.kind === 'stall') {
      this.from.pause();
      return;
    }
    if (mode.kind === 'blackhole' || mode.kind === 'down') {
      this.#queue = [];
      this.from.resume();
      return;
    }
    while (this.#queue.length > 0) {
      let chunk = this.#queue[0]!;
      if (mode.kind === 'throttle') {
        const now = performance.now();
        // At most a quarter of a second's worth of credit accumulates, so bursts stay small.
        this.#credit = Math.min(
          this.#credit + ((now - this.#creditAt) / 1000) * mode.bytesPerSecond,
          mode.bytesPerSecond / 4,
        );
        this.#creditAt = now;
        const allowed = Math.floor(this.#credit);
        if (allowed <= 0) {
          this.from.pause();
          this.#timer ??= setTimeout(() => {
            this.#timer = undefined;
            this.pump();
          }, 20);
          return;
        }
        if (chunk.length > allowed) {
          this.#queue[0] = chunk.subarray(allowed);
          chunk = chunk.subarray(0, allowed);
        } else this.#queue.shift();
        this.#credit -= chunk.length;
      } else this.#queue.shift();
      if (this.toDevice) this.proxy.lastToDeviceAt = performance.now();
      if (!this.to.write(chunk)) {
        this.from.pause();
        this.to.once('drain', () => this.pump());
        return;
      }
    }
    this.from.resume();
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }
}

interface Pair {
  device: Socket;
  emulator: Socket;
  pipes: Pipe[];
}

export class FaultProxy {
  #mode: FaultMode = { kind: 'pass' };
  readonly #pairs = new Set<Pair>();
  /** `performance.now()` of the last byte written towards the device. */
  lastToDeviceAt = performance.now();
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes from devices that a black hole (or `down`) swallowed: lets a test wait until a device has written. */
  droppedFromDevice = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: FaultProxyOptions,
  ) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer({ pauseOnConnect: true });
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort, options.listenHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  set mode(mode: FaultMode) {
    this.#mode = mode;
    if (mode.kind === 'down') this.reset();
    for (const pair of this.#pairs) for (const pipe of pair.pipes) pipe.pump();
  }

  /** Open connections. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Resets every open connection on both sides. */
  reset(): void {
    for (const pair of [...this.#pairs]) this.#drop(pair);
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(device: Socket): void {
    this.accepted++;
    device.setNoDelay(true);
    if (this.#mode.kind === 'down') {
      device.resetAndDestroy();
      return;
    }
    const emulator = new Socket();
    emulator.setNoDelay(true);
    const pair: Pair = { device, emulator, pipes: [] };
    this.#pairs.add(pair);
    for (const socket of [device, emulator]) {
      socket.on('error', () => this.#drop(pair));
      // One side closed: the other is ended gracefully (what was written still arrives) while the link works.
      socket.on('close', () =>
        this.#drop(pair, this.#mode.kind === 'pass' || this.#mode.kind === 'throttle'),
      );
      // A half-close is passed on (a graceful end), unless the link is silent.
      socket.on('end', () => {
        if (this.#mode.kind === 'pass' || this.#mode.kind === 'throttle') {
          (socket === device ? emulator : device).end();
        }
      });
    }
    emulator.connect(this.options.targetPort, this.options.targetHost, () => {
      pair.pipes = [new Pipe(device, emulator, this, false), new Pipe(emulator, device, this, true)];
      for (const pipe of pair.pipes) pipe.pump();
    });
  }

  #drop(pair: Pair, graceful = false): void {
    if (!this.#pairs.delete(pair)) return;
    for (const pipe of pair.pipes) pipe.stop();
    for (const socket of [pair.device, pair.emulator]) {
      if (socket.destroyed) continue;
      if (graceful && !socket.connecting) {
        socket.end();
        setTimeout(() => socket.destroy(), 5000).unref();
      } else if (socket.connecting || socket.readyState === 'closed') socket.destroy();
      else socket.resetAndDestroy();
    }
  }
}
