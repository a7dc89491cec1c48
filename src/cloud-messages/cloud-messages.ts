import { invalidArgument, SpotflowError } from '../errors.js';
import { parsePropertyBag } from '../iothub/property-bag.js';
import type { Logger } from '../logger.js';
import type { Database, MqttConnection, MqttMessage } from '../ports.js';
import { CloudInbox } from './inbox.js';

/** A cloud-to-device message. */
export interface CloudMessage {
  /** The message's body, as the cloud sent it. */
  payload: Uint8Array;
  /** The message's properties (user properties and system ones such as `$.mid`). */
  properties: Record<string, string>;
  /** `$.mid`, when the cloud set one. */
  messageId: string | undefined;
  /** The payload as UTF-8 text. */
  text(): string;
}

/**
 * Called for each cloud-to-device message, one at a time, in order. Messages are stored in the local database before
 * the hub gets its acknowledgement, and removed once the handler returns (or its promise settles): a message that
 * arrives before a handler is registered, or while the process crashes, is handed over later, not lost.
 */
export type CloudMessageHandler = (message: CloudMessage) => void | Promise<void>;

/** What a direct method answers: an HTTP-like status and a JSON payload. Returning nothing means 200 with `null`. */
export interface MethodResponse {
  /** The status the caller sees (200 for success, by convention). */
  status: number;
  /** Any JSON value; omitted means `null`. */
  payload?: unknown;
}

/**
 * Answers one direct method: `payload` is the caller's JSON payload. A handler that throws answers 500; one that
 * returns nothing answers 200 with `null`.
 */
export type MethodHandler = (
  payload: unknown,
  request: {
    /** The method's name, as the caller called it. */
    name: string;
  },
) => MethodResponse | undefined | Promise<MethodResponse | undefined>;

/**
 * Thrown by a handler that did not take the message after all (the browser's shared client, when the context it
 * handed the message to went away): the message stays stored and is handed over again at the next registration.
 * Internal: not exported to users.
 */
export class CloudMessageNotTaken extends Error {
  override name = 'CloudMessageNotTaken';
}

/** `onMethod`'s arguments: a name IoT Hub accepts in a topic, and a function. */
export function checkMethodHandler(name: unknown, handler: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.\-:]{1,128}$/.test(name)) {
    throw invalidArgument('A method name is 1-128 letters, digits or _ . - :');
  }
  if (typeof handler !== 'function') throw invalidArgument('onMethod needs a handler function');
}

const methodTopic = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/;

/** Cloud-to-device messages (through a durable inbox) and direct methods (SPEC §3). */
export class CloudMessages {
  readonly #cloudHandlers = new Set<CloudMessageHandler>();
  readonly #methods = new Map<string, MethodHandler>();
  readonly #inbox: CloudInbox;

  constructor(
    db: Database,
    device: string,
    private readonly log: Logger,
    private readonly reportError: (error: SpotflowError) => void,
  ) {
    this.#inbox = new CloudInbox(db, device, (stored) => this.#deliver(stored), reportError);
  }

  onCloudMessage(handler: CloudMessageHandler): () => void {
    if (typeof handler !== 'function') throw invalidArgument('onCloudMessage needs a function');
    this.#cloudHandlers.add(handler);
    this.#inbox.drain();
    return () => this.#cloudHandlers.delete(handler);
  }

  /** Stores the message (durably) and returns, so the hub is acknowledged; handlers run from the inbox. */
  async handleCloudMessage(message: MqttMessage): Promise<void> {
    await this.#inbox.add(message);
    if (this.#cloudHandlers.size > 0) this.#inbox.drain();
  }

  /** Stops handing out stored messages; resolves when the handler running now (if any) has returned. */
  stop(): Promise<void> {
    return this.#inbox.stop();
  }

  /** Hands one stored message to every handler; false (keep it) while there is none. */
  async #deliver(stored: MqttMessage): Promise<boolean> {
    const handlers = [...this.#cloudHandlers];
    if (handlers.length === 0) return false;
    const message = toCloudMessage(stored);
    for (const handler of handlers) {
      try {
        await handler(message);
      } catch (error) {
        if (error instanceof CloudMessageNotTaken) return false;
        this.reportError(new SpotflowError('INTERNAL', 'A cloud message handler threw', { cause: error }));
      }
    }
    return true;
  }

  /** Registers the handler of method `name`, replacing an earlier one; returns a function that removes it. */
  onMethod(name: string, handler: MethodHandler): () => void {
    checkMethodHandler(name, handler);
    this.#methods.set(name, handler);
    return () => {
      if (this.#methods.get(name) === handler) this.#methods.delete(name);
    };
  }

  async handleMethod(message: MqttMessage, connection: MqttConnection | undefined): Promise<void> {
    const match = methodTopic.exec(message.topic);
    if (!match || !connection) return;
    const name = decodeURIComponent(match[1]!);
    const rid = new URLSearchParams(match[2]).get('$rid') ?? '';
    const send = (status: number, body: Uint8Array) =>
      connection
        .publish(`$iothub/methods/res/${status}/?$rid=${encodeURIComponent(rid)}`, body, 0)
        .catch(() => this.log.warn('Could not send a method response', { method: name }));
    const respond = (status: number, payload: { message: string } | null) =>
      send(status, encodeJson(payload)!);
    const handler = this.#methods.get(name);
    if (!handler) {
      await respond(404, { message: `Method ${name} is not registered on this device` });
      return;
    }
    let request: unknown = null;
    try {
      request = message.payload.length === 0 ? null : JSON.parse(new TextDecoder().decode(message.payload));
    } catch {
      await respond(400, { message: 'The method payload is not JSON' });
      return;
    }
    try {
      const result = await handler(request, { name });
      if (result === undefined) {
        await respond(200, null);
      } else if (!isMethodResponse(result)) {
        await respond(500, {
          message: 'The method handler returned something other than { status, payload }',
        });
      } else {
        const body = encodeJson(result.payload);
        if (body === undefined) {
          // Not the handler's status: the caller would read success from it with no result.
          this.reportError(
            invalidArgument(`The handler of method ${name} returned a payload that is not JSON`),
          );
          await respond(500, { message: 'The method result is not JSON-serialisable' });
        } else {
          await send(result.status, body);
        }
      }
    } catch (error) {
      // The error itself stays on the device: it may hold details the cloud should not see.
      this.reportError(
        new SpotflowError('INTERNAL', `The handler of method ${name} threw`, { cause: error }),
      );
      await respond(500, { message: 'The method handler failed' });
    }
  }
}

function isMethodResponse(value: unknown): value is MethodResponse {
  const status = (value as { status?: unknown } | null)?.status;
  return (
    typeof value === 'object' &&
    value !== null &&
    Number.isInteger(status) &&
    (status as number) >= 100 &&
    (status as number) <= 599
  );
}

/** The JSON bytes of a method payload (`undefined` is `null`); undefined when it has no JSON form. */
function encodeJson(payload: unknown): Uint8Array | undefined {
  try {
    const json = JSON.stringify(payload ?? null);
    // A function or symbol (or a toJSON returning one) serialises to nothing.
    return json === undefined ? undefined : new TextEncoder().encode(json);
  } catch {
    return undefined; // a bigint, a circular structure, or a toJSON that threw
  }
}

function toCloudMessage(message: MqttMessage): CloudMessage {
  const marker = '/messages/devicebound/';
  const bag = message.topic.slice(message.topic.indexOf(marker) + marker.length);
  let properties: Record<string, string>;
  try {
    properties = parsePropertyBag(bag);
  } catch {
    properties = {};
  }
  const payload = message.payload;
  return {
    payload,
    properties,
    messageId: properties['$.mid'],
    text: () => new TextDecoder().decode(payload),
  };
}
