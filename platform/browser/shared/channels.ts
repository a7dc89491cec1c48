/**
 * The BroadcastChannels of a shared device, and the routing of each message to the one that only its readers listen
 * on: one every context hears (the owner's announcements, state and events), one only the owner hears (calls,
 * registrations, what a context handled), and one per context (the replies and deliveries for it). A channel clones
 * a message for every context listening on it; with one channel for everything, each tab also decoded every other
 * tab's calls and replies, which doubled Chromium's CPU per message with three tabs enqueueing. Messages posted in one
 * turn of the event loop go together as one array per channel, in order.
 */
import type { Envelope, Outgoing } from './protocol.js';

type Route = 'all' | 'owner' | 'context';

const routes: { readonly [T in Envelope['t']]: Route } = {
  ready: 'all',
  closing: 'all',
  state: 'all',
  event: 'all',
  hello: 'owner',
  call: 'owner',
  cancel: 'owner',
  handlers: 'owner',
  bye: 'owner',
  delivered: 'owner',
  reply: 'context',
  deliver: 'context',
};

export class DeviceChannels {
  readonly #listening: BroadcastChannel[] = [];
  /** Channels this context only posts to, by name. */
  readonly #posting = new Map<string, BroadcastChannel>();
  readonly #queued = new Map<string, Envelope[]>();
  #flushing = false;
  #closed = false;

  constructor(
    private readonly prefix: string,
    private readonly self: string,
    private readonly receive: (envelope: Envelope) => void,
  ) {
    this.#listen(this.#name('all'));
    this.#listen(this.#name('context', self));
  }

  /** This context owns the device now: it hears the owner's channel too. */
  listenAsOwner(): void {
    this.#listen(this.#name('owner'));
  }

  post(message: Outgoing): void {
    if (this.#closed) return;
    const route = routes[message.t];
    const name = this.#name(route, route === 'context' ? (message as { to: string }).to : undefined);
    const queue = this.#queued.get(name) ?? [];
    queue.push({ ...message, from: this.self } as Envelope);
    this.#queued.set(name, queue);
    if (this.#flushing) return;
    this.#flushing = true;
    queueMicrotask(() => this.flush());
  }

  /** Posts what is queued now (also what `close` does first). */
  flush(): void {
    this.#flushing = false;
    for (const [name, queue] of this.#queued) {
      this.#queued.delete(name);
      let channel = this.#posting.get(name);
      if (channel === undefined) {
        channel = new BroadcastChannel(name);
        this.#posting.set(name, channel);
      }
      channel.postMessage(queue);
    }
  }

  /** A context has gone: the channel this one kept for posting to it is closed. */
  forget(context: string): void {
    const name = this.#name('context', context);
    this.#queued.delete(name);
    this.#posting.get(name)?.close();
    this.#posting.delete(name);
  }

  close(): void {
    this.flush();
    this.#closed = true;
    for (const channel of [...this.#listening, ...this.#posting.values()]) channel.close();
  }

  #listen(name: string): void {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event: MessageEvent<Envelope[]>) => {
      for (const envelope of event.data) if (!this.#closed) this.receive(envelope);
    };
    this.#listening.push(channel);
  }

  #name(route: Route, context?: string): string {
    return route === 'context' ? `${this.prefix}:to:${context}` : `${this.prefix}:${route}`;
  }
}
