/**
 * The cloud-to-device and direct-method handlers one context of a shared device registered, and running them for
 * what the owner hands this context. Without a handler for it (removed meanwhile, or the context closing) a delivery
 * is answered {@link handlerGone}, and the owner hands it to another context.
 */
import {
  type CloudMessageHandler,
  checkMethodHandler,
  type MethodHandler,
} from '../../../src/cloud-messages/cloud-messages.js';
import { invalidArgument, SpotflowError } from '../../../src/errors.js';
import { type Delivery, handlerGone, type Outcome, outcomeOf } from './protocol.js';

const gone: Outcome = {
  ok: false,
  error: { code: undefined, name: handlerGone, message: 'No handler here' },
};

export class ContextHandlers {
  readonly #cloud = new Set<CloudMessageHandler>();
  readonly #methods = new Map<string, MethodHandler>();
  #closed = false;

  constructor(
    /** Called after every registration or removal, so that the owner learns what this context handles. */
    private readonly changed: () => void,
    private readonly reportError: (error: SpotflowError) => void,
  ) {}

  get registration(): { cloud: boolean; methods: string[] } {
    return { cloud: this.#cloud.size > 0, methods: [...this.#methods.keys()] };
  }

  onCloudMessage(handler: CloudMessageHandler): () => void {
    if (typeof handler !== 'function') throw invalidArgument('onCloudMessage needs a function');
    this.#cloud.add(handler);
    this.changed();
    return () => {
      this.#cloud.delete(handler);
      this.changed();
    };
  }

  onMethod(name: string, handler: MethodHandler): () => void {
    checkMethodHandler(name, handler);
    this.#methods.set(name, handler);
    this.changed();
    return () => {
      if (this.#methods.get(name) !== handler) return;
      this.#methods.delete(name);
      this.changed();
    };
  }

  /** Nothing more is handled here. */
  close(): void {
    this.#closed = true;
  }

  /** Runs this context's handlers for a message or method call (every C2D handler in turn, as a client does). */
  handle(delivery: Delivery): Promise<Outcome> {
    if (delivery.kind === 'method') {
      const handler = this.#methods.get(delivery.name);
      if (handler === undefined || this.#closed) return Promise.resolve(gone);
      return outcomeOf(() => handler(delivery.payload, { name: delivery.name }));
    }
    const handlers = [...this.#cloud];
    if (handlers.length === 0 || this.#closed) return Promise.resolve(gone);
    const { payload, properties, messageId } = delivery.message;
    const message = { payload, properties, messageId, text: () => new TextDecoder().decode(payload) };
    return outcomeOf(async () => {
      for (const handler of handlers) {
        try {
          await handler(message);
        } catch (error) {
          this.reportError(new SpotflowError('INTERNAL', 'A cloud message handler threw', { cause: error }));
        }
      }
    });
  }
}
