import { asSpotflowError, isSpotflowError, SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isLoopbackHost } from '../options.js';
import type { MqttConnection, MqttMessage, Platform, TimerHandle } from '../ports.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { type HubCredentials, hubEndpoints } from './connection-string.js';
import { watchLink } from './link-watch.js';

export interface SessionOptions {
  instance: string;
  /** Allow a hub without TLS on a host other than loopback. */
  allowInsecure: boolean;
  transport: 'tcp' | 'websocket';
  keepAliveSeconds: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** Where the session gets credentials, and how it reports that the hub refused them. */
export interface CredentialSource {
  /** The current hub credentials, waiting for the first ones if there are none yet. */
  current(signal: AbortSignal): Promise<HubCredentials>;
  /** The hub refused these credentials (CONNACK 4/5): resolves once newer ones exist. */
  refused(credentials: HubCredentials, signal: AbortSignal): Promise<void>;
  /** Subscribe to credential changes (a renewed SAS). */
  onChange(listener: () => void): () => void;
}

export interface SessionEvents {
  /** A connection attempt begins: `attempt` counts the attempts since the last connection (or the start), from 1. */
  connecting(attempt: number, host: string): void;
  connected(connection: MqttConnection, credentials: HubCredentials): void;
  disconnected(error: Error | undefined): void;
  error(error: SpotflowError): void;
}

type MessageHandler = (message: MqttMessage) => Promise<void> | void;

/** A topic, or how to work it out from the connection's credentials. */
export type Topic = string | ((credentials: HubCredentials) => string);

function topicFor(topic: Topic, credentials: HubCredentials): string {
  return typeof topic === 'string' ? topic : topic(credentials);
}

/** `host` of `host:port` (IPv6 in brackets kept). */
function hostOnly(hostName: string): string {
  return hostName.startsWith('[') ? hostName.slice(0, hostName.indexOf(']') + 1) : hostName.split(':')[0]!;
}

/** A connection that ends sooner than this, without a PUBACK, counts as a failed attempt for the backoff. */
const shortLivedMs = 5000;
/** The highest attempt count on a link that works now and then: a pause of at most 4 s with the default 1 s start. */
const flappingMaxAttempt = 2;
/** Connects that fail this soon after the last accepted connection ended are a flapping link, not a dead hub. */
const recentConnectionMs = 30_000;

/**
 * The reconnect rule. `attempt` counts failures in a row and sets the pause before the next connect:
 * `backoffDelay(attempt)`, i.e. 0.5–1 s, 1–2 s, 2–4 s, … up to `reconnectMaxDelayMs` (60 s) with the defaults.
 * - A connection that delivered a PUBACK, or lived 5 s, proves that the link and the hub work: back to 0, so after
 *   any number of drops a working link is used again within a second.
 * - A connection the hub accepted that ended within 5 s without a PUBACK (a flapping link, a broker dropping
 *   devices, nothing to send) adds one, but leaves the count at 2 at most (a pause of at most 4 s).
 * - A connect that fails (network, TLS, timeout) adds one. Within 30 s of the end of the last accepted connection
 *   the count stays at 2 at most as well: the link is flapping, and is retried every 2–4 s. Later it climbs without
 *   limit: a hub that cannot be reached is tried less and less often, up to once a minute.
 * So there is no reconnect storm, and a link that stays up after flapping for minutes is used again within about
 * 5 s.
 */
export function attemptAfterConnection(
  attempt: number,
  connection: { livedMs: number; acknowledgedPublishes: number },
): number {
  if (connection.acknowledgedPublishes > 0 || connection.livedMs >= shortLivedMs) return 0;
  return Math.min(attempt + 1, flappingMaxAttempt);
}

/** The rule of {@link attemptAfterConnection} for a connect that failed, `sinceConnectionMs` after the last one ended. */
export function attemptAfterFailedConnect(attempt: number, sinceConnectionMs: number): number {
  return sinceConnectionMs < recentConnectionMs ? Math.min(attempt + 1, flappingMaxAttempt) : attempt + 1;
}

/** How long `stop` waits for in-flight acknowledgements before it forces the connection closed. */
const stopGraceMs = 2000;

/**
 * The MQTT session with the hub: connects with the current credentials, subscribes, dispatches incoming messages
 * by topic prefix, and reconnects with jittered exponential backoff for as long as it runs. A refused CONNECT asks
 * the credential source for new credentials instead of retrying the same ones.
 */
export class HubSession {
  readonly #stop = new AbortController();
  readonly #subscriptions = new Set<Topic>();
  readonly #handlers: { prefix: string; handler: MessageHandler }[] = [];
  #connected: { connection: MqttConnection; credentials: HubCredentials } | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    private readonly platform: Platform,
    private readonly options: SessionOptions,
    private readonly credentials: CredentialSource,
    private readonly events: SessionEvents,
    private readonly log: Logger,
  ) {}

  get connection(): MqttConnection | undefined {
    return this.#connected?.connection;
  }

  /** Routes messages whose topic starts with `prefix` to `handler` (first match wins). */
  handle(prefix: string, handler: MessageHandler): void {
    this.#handlers.push({ prefix, handler });
  }

  /**
   * Subscribes now if connected, and on every later connection. A topic given as a function is worked out from
   * each connection's credentials (a device provisioned again may have a new id).
   */
  async subscribe(topic: Topic): Promise<void> {
    if (this.#subscriptions.has(topic)) return;
    this.#subscriptions.add(topic);
    const current = this.#connected;
    if (!current) return;
    await current.connection
      .subscribe([topicFor(topic, current.credentials)])
      .catch((error: unknown) => this.#report(error));
  }

  start(): void {
    this.#loop ??= this.#run();
    this.credentials.onChange(() => {
      // A renewed SAS: reconnect with it now rather than wait for the hub to drop the old one at expiry.
      const connection = this.#connected?.connection;
      if (connection) void this.#end(connection);
    });
  }

  /** Ends the connection (waiting at most 2 s for in-flight acknowledgements) and the reconnect loop. */
  async stop(): Promise<void> {
    this.#stop.abort();
    const connection = this.#connected?.connection;
    if (connection) await this.#end(connection);
    await this.#loop;
  }

  /**
   * Ends a connection gracefully, giving in-flight publishes {@link stopGraceMs} to be acknowledged, then forces it
   * closed: on a dead link a graceful end waits for PUBACKs that never come.
   */
  async #end(connection: MqttConnection): Promise<void> {
    const { clock } = this.platform;
    let timer: TimerHandle;
    const deadline = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, stopGraceMs);
    });
    await Promise.race([connection.end().catch(() => {}), deadline]);
    clock.clearTimeout(timer);
    await connection.end(true).catch(() => {});
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let attempt = 0;
    let lastConnectionEndedAt = Number.NEGATIVE_INFINITY;
    let attemptsSinceConnected = 0;
    while (!signal.aborted) {
      let credentials: HubCredentials;
      try {
        credentials = await this.credentials.current(signal);
      } catch {
        return; // stopped
      }
      const endpoints = hubEndpoints(credentials.hostName, this.options.instance);
      if (
        !endpoints.secure &&
        !this.options.allowInsecure &&
        !isLoopbackHost(hostOnly(credentials.hostName))
      ) {
        // The SAS token would cross the network in clear text: refuse, and wait for other credentials.
        this.#report(
          new SpotflowError(
            'INVALID_ARGUMENT',
            'The hub is not on a loopback host and TLS is off; set allowInsecure',
          ),
        );
        await this.#pause(attempt++, signal);
        continue;
      }
      const url = this.options.transport === 'websocket' ? endpoints.webSocketUrl : endpoints.mqttUrl;
      this.events.connecting(++attemptsSinceConnected, credentials.hostName);
      let connection: MqttConnection;
      try {
        connection = await this.platform.mqtt.connect(
          {
            url,
            clientId: credentials.hubDeviceId,
            username: `${credentials.hostName}/${credentials.hubDeviceId}/?api-version=2021-04-12`,
            password: credentials.sasToken,
            keepAliveSeconds: this.options.keepAliveSeconds,
            connectTimeoutMs: 15_000,
          },
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        if (isSpotflowError(error, 'CONNECTION_REFUSED')) {
          this.log.warn('The hub refused the credentials; asking for new ones');
          try {
            await this.credentials.refused(credentials, signal);
          } catch {
            return;
          }
          continue;
        }
        this.#report(error);
        await this.#pause(attempt, signal);
        attempt = attemptAfterFailedConnect(
          attempt,
          this.platform.clock.monotonicNow() - lastConnectionEndedAt,
        );
        continue;
      }
      if (signal.aborted) {
        // Stopped while the CONNACK was on its way: `stop` did not see this connection.
        await connection.end(true).catch(() => {});
        return;
      }
      attemptsSinceConnected = 0;
      // Monotonic: a wall clock stepped by NTP meanwhile must not make a connection look long- or short-lived.
      const connectedAt = this.platform.clock.monotonicNow();
      const acknowledgedPublishes = await this.#serve(connection, credentials);
      if (signal.aborted) return;
      lastConnectionEndedAt = this.platform.clock.monotonicNow();
      const livedMs = lastConnectionEndedAt - connectedAt;
      attempt = attemptAfterConnection(attempt, { livedMs, acknowledgedPublishes });
      await this.#pause(attempt, signal);
    }
  }

  /** Runs one connection until it closes; returns how many publishes the hub acknowledged on it. */
  async #serve(link: MqttConnection, credentials: HubCredentials): Promise<number> {
    // Everything above the session sees the watched connection, so every acknowledgement it awaits is followed.
    const connection = watchLink(link, this.platform.clock, (error) => this.log.warn(error.message));
    const closed = new Promise<Error | undefined>((resolve) => connection.onClose(resolve));
    connection.setMessageHandler((message) => this.#dispatch(message));
    this.#connected = { connection, credentials };
    try {
      if (this.#subscriptions.size > 0) {
        await connection.subscribe([...this.#subscriptions].map((topic) => topicFor(topic, credentials)));
      }
      this.log.info('Connected to the hub', { deviceId: credentials.deviceId });
      this.events.connected(connection, credentials);
    } catch (error) {
      this.#report(error);
      await connection.end(true).catch(() => {});
    }
    const error = await closed;
    this.#connected = undefined;
    this.log.info('Disconnected from the hub', error ? { reason: error.message } : undefined);
    this.events.disconnected(error);
    return connection.acknowledgedPublishes;
  }

  async #dispatch(message: MqttMessage): Promise<void> {
    const route = this.#handlers.find((h) => message.topic.startsWith(h.prefix));
    if (!route) {
      this.log.debug('Message on an unexpected topic ignored', { topic: message.topic.slice(0, 200) });
      return;
    }
    try {
      await route.handler(message);
    } catch (error) {
      this.#report(error);
      // Not taken: a QoS 1 message must not be acknowledged (the adapter then drops the connection, and the
      // broker delivers it again).
      throw error;
    }
  }

  /** Waits out the backoff, or less when the platform hints that the network is back. */
  async #pause(attempt: number, signal: AbortSignal): Promise<void> {
    const delay = backoffDelay(attempt, {
      initialMs: this.options.reconnectInitialDelayMs,
      maxMs: this.options.reconnectMaxDelayMs,
    });
    if (signal.aborted) return;
    const cutShort = new AbortController();
    const stop = () => cutShort.abort();
    signal.addEventListener('abort', stop, { once: true });
    const unsubscribe = this.platform.onNetworkHint?.(() => {
      this.log.debug('The network may be back: reconnecting now');
      stop();
    });
    try {
      await sleep(this.platform.clock, delay, cutShort.signal).catch(() => {});
    } finally {
      unsubscribe?.();
      signal.removeEventListener('abort', stop);
    }
  }

  #report(error: unknown): void {
    this.events.error(asSpotflowError(error, 'Unexpected error in the hub session'));
  }
}
