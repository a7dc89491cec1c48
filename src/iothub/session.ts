import { isSpotflowError, SpotflowError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MqttConnection, MqttMessage, Platform } from '../ports.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { type HubCredentials, hubEndpoints } from './connection-string.js';

export interface SessionOptions {
  instance: string;
  transport: 'tcp' | 'websocket';
  keepAliveSeconds: number;
  ca: string | undefined;
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
  connected(connection: MqttConnection, credentials: HubCredentials): void;
  disconnected(error: Error | undefined): void;
  error(error: SpotflowError): void;
}

type MessageHandler = (message: MqttMessage) => Promise<void> | void;

/**
 * The MQTT session with the hub: connects with the current credentials, subscribes, dispatches incoming messages
 * by topic prefix, and reconnects with jittered exponential backoff for as long as it runs. A refused CONNECT asks
 * the credential source for new credentials instead of retrying the same ones.
 */
export class HubSession {
  readonly #stop = new AbortController();
  readonly #subscriptions = new Set<string>();
  readonly #handlers: { prefix: string; handler: MessageHandler }[] = [];
  #connection: MqttConnection | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    private readonly platform: Platform,
    private readonly options: SessionOptions,
    private readonly credentials: CredentialSource,
    private readonly events: SessionEvents,
    private readonly log: Logger,
  ) {}

  get connection(): MqttConnection | undefined {
    return this.#connection;
  }

  /** Routes messages whose topic starts with `prefix` to `handler` (first match wins). */
  handle(prefix: string, handler: MessageHandler): void {
    this.#handlers.push({ prefix, handler });
  }

  /** Subscribes now if connected, and on every later connection. */
  async subscribe(topic: string): Promise<void> {
    if (this.#subscriptions.has(topic)) return;
    this.#subscriptions.add(topic);
    await this.#connection?.subscribe([topic]).catch((error: unknown) => this.#report(error));
  }

  start(): void {
    this.#loop ??= this.#run();
    this.credentials.onChange(() => {
      // A renewed SAS: reconnect with it now rather than wait for the hub to drop the old one at expiry.
      void this.#connection?.end();
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#connection?.end().catch(() => {});
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let attempt = 0;
    while (!signal.aborted) {
      let credentials: HubCredentials;
      try {
        credentials = await this.credentials.current(signal);
      } catch {
        return; // stopped
      }
      const endpoints = hubEndpoints(credentials.hostName, this.options.instance);
      const url = this.options.transport === 'websocket' ? endpoints.webSocketUrl : endpoints.mqttUrl;
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
            ca: this.options.ca,
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
        await this.#pause(attempt++, signal);
        continue;
      }
      attempt = 0;
      await this.#serve(connection, credentials);
      if (signal.aborted) return;
      // A short jittered pause so that a broker that drops every connection is not hammered.
      await this.#pause(0, signal);
    }
  }

  /** Runs one connection until it closes. */
  async #serve(connection: MqttConnection, credentials: HubCredentials): Promise<void> {
    const closed = new Promise<Error | undefined>((resolve) => connection.onClose(resolve));
    connection.setMessageHandler((message) => this.#dispatch(message));
    this.#connection = connection;
    try {
      if (this.#subscriptions.size > 0) await connection.subscribe([...this.#subscriptions]);
      this.log.info('Connected to the hub', { deviceId: credentials.deviceId });
      this.events.connected(connection, credentials);
    } catch (error) {
      this.#report(error);
      await connection.end(true).catch(() => {});
    }
    const error = await closed;
    this.#connection = undefined;
    this.log.info('Disconnected from the hub', error ? { reason: error.message } : undefined);
    this.events.disconnected(error);
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
    }
  }

  #pause(attempt: number, signal: AbortSignal): Promise<void> {
    const delay = backoffDelay(attempt, {
      initialMs: this.options.reconnectInitialDelayMs,
      maxMs: this.options.reconnectMaxDelayMs,
    });
    return sleep(delay, signal).catch(() => {});
  }

  #report(error: unknown): void {
    const spotflowError = isSpotflowError(error)
      ? error
      : new SpotflowError('INTERNAL', 'Unexpected error in the hub session', { cause: error });
    this.events.error(spotflowError);
  }
}
