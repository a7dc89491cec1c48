/**
 * The `MqttConnector` port over MQTT.js v5, shared by the Node and browser platforms: they differ only in which
 * build of MQTT.js they pass (Node's, with TCP and TLS; the browser's, WebSockets only) and in extra client
 * options (Node: a trusted CA). One MqttClient is one connection: MQTT.js never reconnects it
 * (`reconnectPeriod: 0`); the core's session does. No Node built-ins here.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { abortedError, isSpotflowError, SpotflowError } from '../../src/errors.js';
import type { MqttConnection, MqttConnectOptions, MqttMessage } from '../../src/ports.js';
import { tlsError, tlsVerificationCode } from '../../src/util/tls.js';

/** What a platform passes: MQTT.js's `connect` from the build it bundles, and the URL schemes it can reach. */
export interface MqttJsFlavour {
  connect(url: string, options: IClientOptions): MqttClient;
  schemes: ReadonlySet<string>;
  /** Extra client options for a connection to `url` (Node: the trusted CA for mqtts:/wss:). */
  clientOptions?(url: URL): Partial<IClientOptions>;
}

/** Connects once with MQTT.js; rejects with CONNECTION_REFUSED, NETWORK, INVALID_ARGUMENT or ABORTED. */
export async function connectWithMqttJs(
  flavour: MqttJsFlavour,
  options: MqttConnectOptions,
  signal?: AbortSignal,
): Promise<MqttConnection> {
  if (signal?.aborted) throw abortedError(signal);
  const url = URL.canParse(options.url) ? new URL(options.url) : undefined;
  if (url === undefined || !flavour.schemes.has(url.protocol)) {
    throw new SpotflowError(
      'INVALID_ARGUMENT',
      `The MQTT URL must be a ${[...flavour.schemes].join(', ')} URL on this platform`,
    );
  }
  const client = createClient(flavour, options, url);
  const connection = new MqttJsConnection(client);
  return await new Promise<MqttConnection>((resolve, reject) => {
    const fail = (error: SpotflowError) => {
      cleanup();
      client.end(true);
      reject(error);
    };
    const onConnect = () => {
      cleanup();
      resolve(connection);
    };
    const onError = (error: Error) => fail(connectError(error, url.host));
    const onClose = () => fail(connectError(connection.lastError, url.host));
    const onAbort = () => fail(abortedError(signal));
    const cleanup = () => {
      client.off('connect', onConnect).off('error', onError).off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    client.on('connect', onConnect).on('error', onError).on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function createClient(flavour: MqttJsFlavour, options: MqttConnectOptions, url: URL): MqttClient {
  try {
    return flavour.connect(options.url, {
      protocolVersion: 4,
      clientId: options.clientId,
      username: options.username,
      password: options.password,
      // A persistent session, as Microsoft's device SDK asks of IoT Hub: the hub keeps C2D messages meanwhile.
      clean: false,
      reconnectPeriod: 0,
      resubscribe: false,
      keepalive: options.keepAliveSeconds,
      connectTimeout: options.connectTimeoutMs,
      rejectUnauthorized: true,
      // MQTT.js's own debug log (DEBUG=mqttjs*) prints whole packets, CONNECT and its password included: off.
      log: () => {},
      ...flavour.clientOptions?.(url),
    });
  } catch (error) {
    throw new SpotflowError('INVALID_ARGUMENT', 'MQTT.js refused the connect options', { cause: error });
  }
}

/** Messages name the host and the failure's code, never a credential; the original error is the `cause`. */
function connectError(error: Error | undefined, host: string): SpotflowError {
  const verification = tlsVerificationCode(error);
  if (verification !== undefined) {
    return tlsError(`the MQTT broker ${host}`, verification, { retried: true, cause: error });
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 4 || code === 5) {
    const message = `The MQTT broker ${host} refused the credentials (CONNACK ${code})`;
    return new SpotflowError('CONNECTION_REFUSED', message, { cause: error });
  }
  const detail = typeof code === 'string' || typeof code === 'number' ? ` (${code})` : '';
  return new SpotflowError('NETWORK', `Cannot connect to the MQTT broker ${host}${detail}`, { cause: error });
}

type Settle = (error?: SpotflowError) => void;

class MqttJsConnection implements MqttConnection {
  readonly #client: MqttClient;
  /** Rejecters of publishes and subscribes awaiting their ack: MQTT.js keeps QoS 1 entries of a persistent
   * session for a reconnect that never comes, so this connection fails them itself when the stream closes. */
  readonly #pending = new Set<Settle>();
  readonly #closeListeners: ((error?: Error) => void)[] = [];
  #handler: ((message: MqttMessage) => Promise<void> | void) | undefined;
  /** Messages that arrived before `setMessageHandler` (a persistent session may deliver right after CONNACK). */
  #backlog: (() => void)[] = [];
  #closed = false;
  #closeError: Error | undefined;
  #endRequested = false;
  /** The last 'error' MQTT.js emitted (it emits one before most closes): the cause of the close. */
  lastError: Error | undefined;

  constructor(client: MqttClient) {
    this.#client = client;
    // Always listened to: an 'error' event without a listener would throw.
    client.on('error', (error) => {
      this.lastError = error;
    });
    client.on('close', () => this.#onStreamClosed());
    client.handleMessage = (packet, callback) => this.#receive(packet, callback);
  }

  publish(topic: string, payload: Uint8Array, qos: 0 | 1): Promise<void> {
    return this.#track((settle) => {
      // MQTT.js writes any Uint8Array (its length via Buffer.byteLength, which takes views), in Node and browsers.
      this.#client.publish(topic, payload as Parameters<MqttClient['publish']>[1], { qos }, (error) => {
        settle(error ? this.#lostError('The MQTT publish failed', error) : undefined);
      });
    });
  }

  subscribe(topics: readonly string[]): Promise<void> {
    return this.#track((settle) => {
      this.#client.subscribe([...topics], { qos: 1 }, (error, granted) => {
        const packet = (error as { packet?: { granted?: number[] } } | null)?.packet;
        const codes = packet?.granted ?? granted?.map((grant) => grant.qos) ?? [];
        if (codes.some((code) => code === 128)) {
          settle(new SpotflowError('PROTOCOL', 'The MQTT broker refused a subscription', { cause: error }));
        } else {
          settle(error ? this.#lostError('The MQTT subscribe failed', error) : undefined);
        }
      });
    });
  }

  setMessageHandler(handler: (message: MqttMessage) => Promise<void> | void): void {
    this.#handler = handler;
    for (const deliver of this.#backlog.splice(0)) deliver();
  }

  onPacket(listener: () => void): void {
    this.#client.on('packetreceive', () => listener());
  }

  onClose(listener: (error?: Error) => void): void {
    if (this.#closed) queueMicrotask(() => listener(this.#closeError));
    else this.#closeListeners.push(listener);
  }

  end(force = false): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#endRequested = true;
    if (force) {
      this.#destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      // Also resolved by the close itself, should the connection drop while waiting for in-flight acks.
      this.#closeListeners.push(() => resolve());
      this.#client.end(false);
    });
  }

  /**
   * Closes at once, whatever the link does. `client.end(true)` alone is not enough: MQTT.js ignores it while a
   * graceful end waits for in-flight acknowledgements (`if (this.disconnecting)` in MqttClient.end, 5.16), and on a
   * silent link the stream's 'close' may come only with the keep-alive (a FIN nobody acknowledges). So the stream is
   * destroyed here and the connection counts as closed now; MQTT.js's own 'close' follows and finds nothing to do.
   */
  #destroy(): void {
    this.#client.end(true);
    try {
      this.#client.stream?.destroy();
    } catch {
      // already destroyed
    }
    this.#onStreamClosed();
  }

  /**
   * MQTT.js calls `handleMessage` for every incoming PUBLISH and sends a QoS 1 PUBACK only when its callback runs
   * (mqtt/build/lib/handlers/publish.js, 5.16), so the ack waits for the core's handler. MQTT.js also reads no
   * further packet until then, which keeps deliveries in order and PUBACKs in the order MQTT 3.1.1 requires.
   */
  #receive(packet: IPublishPacket, callback: (error?: Error) => void): void {
    if (this.#closed) return; // the broker redelivers what was not acknowledged
    const message: MqttMessage = { topic: packet.topic, payload: asBytes(packet.payload) };
    const handled = this.#handle(message);
    if (packet.qos === 0) {
      handled.catch(() => {}); // nothing to acknowledge; the core reports its own failures
      callback();
      return;
    }
    handled.then(
      () => {
        if (!this.#closed) callback();
      },
      (error: unknown) => {
        // Not taken by the core: no PUBACK, and the connection is dropped so that the broker redelivers it.
        const reason = isSpotflowError(error)
          ? error
          : new SpotflowError('INTERNAL', 'The MQTT message handler failed', { cause: error });
        if (this.#closed) return;
        this.#closeError = reason;
        this.#destroy();
      },
    );
  }

  #handle(message: MqttMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const deliver = () => {
        try {
          Promise.resolve(this.#handler!(message)).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      };
      if (this.#handler) deliver();
      else this.#backlog.push(deliver);
    });
  }

  #track(start: (settle: Settle) => void): Promise<void> {
    if (this.#closed) return Promise.reject(this.#lostError('The MQTT connection is closed'));
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: SpotflowError) => {
        if (!this.#pending.delete(settle)) return; // already failed by the close
        if (error) reject(error);
        else resolve();
      };
      this.#pending.add(settle);
      start(settle);
    });
  }

  #onStreamClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#endRequested) {
      this.#closeError ??= this.#lostError('The MQTT connection was lost', this.lastError);
    } else {
      this.#closeError = undefined;
    }
    for (const settle of [...this.#pending]) {
      settle(this.#lostError('The MQTT connection closed before the broker acknowledged', this.#closeError));
    }
    this.#backlog = [];
    for (const listener of this.#closeListeners.splice(0)) listener(this.#closeError);
  }

  #lostError(message: string, cause?: Error): SpotflowError {
    const code = (cause as { code?: unknown } | undefined)?.code;
    const detail = typeof code === 'string' ? ` (${code})` : '';
    return new SpotflowError('NETWORK', `${message}${detail}`, cause === undefined ? undefined : { cause });
  }
}

/** Incoming payloads are Buffers (Node's, or the browser build's polyfill): both are Uint8Arrays already. */
function asBytes(payload: Uint8Array | string): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}
