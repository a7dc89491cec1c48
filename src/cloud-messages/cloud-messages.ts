import { invalidArgument, SpotflowError } from '../errors.js';
import { parsePropertyBag } from '../iothub/property-bag.js';
import type { Logger } from '../logger.js';
import type { MqttConnection, MqttMessage } from '../ports.js';

/** A cloud-to-device message. */
export interface CloudMessage {
  payload: Uint8Array;
  /** The message's properties (user properties and system ones such as `$.mid`). */
  properties: Record<string, string>;
  /** `$.mid`, when the cloud set one. */
  messageId: string | undefined;
  /** The payload as UTF-8 text. */
  text(): string;
}

/** Called for each cloud-to-device message; the hub gets the acknowledgement once it returns (or its promise settles). */
export type CloudMessageHandler = (message: CloudMessage) => void | Promise<void>;

/** What a direct method answers: an HTTP-like status and a JSON payload. Returning nothing means 200 with `null`. */
export interface MethodResponse {
  status: number;
  payload?: unknown;
}

export type MethodHandler = (
  payload: unknown,
  request: { name: string },
) => MethodResponse | undefined | Promise<MethodResponse | undefined>;

const methodTopic = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/;

/** Cloud-to-device messages and direct methods (SPEC §3). */
export class CloudMessages {
  readonly #cloudHandlers = new Set<CloudMessageHandler>();
  readonly #methods = new Map<string, MethodHandler>();

  constructor(
    private readonly log: Logger,
    private readonly reportError: (error: SpotflowError) => void,
  ) {}

  get hasCloudHandler(): boolean {
    return this.#cloudHandlers.size > 0;
  }

  onCloudMessage(handler: CloudMessageHandler): () => void {
    if (typeof handler !== 'function') throw invalidArgument('onCloudMessage needs a function');
    this.#cloudHandlers.add(handler);
    return () => this.#cloudHandlers.delete(handler);
  }

  onMethod(name: string, handler: MethodHandler): () => void {
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.\-:]{1,128}$/.test(name)) {
      throw invalidArgument('A method name is 1-128 letters, digits or _ . - :');
    }
    if (typeof handler !== 'function') throw invalidArgument('onMethod needs a handler function');
    this.#methods.set(name, handler);
    return () => {
      if (this.#methods.get(name) === handler) this.#methods.delete(name);
    };
  }

  async handleCloudMessage(message: MqttMessage): Promise<void> {
    const bag = message.topic.slice(
      message.topic.indexOf('/messages/devicebound/') + '/messages/devicebound/'.length,
    );
    let properties: Record<string, string>;
    try {
      properties = parsePropertyBag(bag);
    } catch {
      properties = {};
    }
    const payload = message.payload;
    const cloudMessage: CloudMessage = {
      payload,
      properties,
      messageId: properties['$.mid'],
      text: () => new TextDecoder().decode(payload),
    };
    for (const handler of [...this.#cloudHandlers]) {
      try {
        await handler(cloudMessage);
      } catch (error) {
        this.reportError(new SpotflowError('INTERNAL', 'A cloud message handler threw', { cause: error }));
      }
    }
  }

  async handleMethod(message: MqttMessage, connection: MqttConnection | undefined): Promise<void> {
    const match = methodTopic.exec(message.topic);
    if (!match || !connection) return;
    const name = decodeURIComponent(match[1]!);
    const rid = new URLSearchParams(match[2]).get('$rid') ?? '';
    const respond = (status: number, payload: unknown) =>
      connection
        .publish(`$iothub/methods/res/${status}/?$rid=${encodeURIComponent(rid)}`, encodeJson(payload), 0)
        .catch(() => this.log.warn('Could not send a method response', { method: name }));
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
        await respond(result.status, result.payload ?? null);
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

function encodeJson(payload: unknown): Uint8Array {
  try {
    return new TextEncoder().encode(JSON.stringify(payload ?? null));
  } catch {
    return new TextEncoder().encode('{"message":"The method result is not JSON-serialisable"}');
  }
}
