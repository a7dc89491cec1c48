import type { LiveEventName, LiveEvents } from '../../http/wire';
import type { ManagementApi } from './api';
import { SseParser } from './sse';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

type Handler<K extends LiveEventName> = (data: LiveEvents[K]) => void;

/** The server writes a heartbeat every 15 s; this long without a byte means the stream is dead. */
const silenceMs = 45_000;
const firstRetryMs = 1_000;
const maxRetryMs = 10_000;

/**
 * The workspace's live events (`GET …/events`, server-sent events), read with fetch() so that the API token
 * travels in the Authorization header and never in a URL. Reconnects after a drop with `Last-Event-ID`, so the
 * events missed meanwhile are replayed; when they cannot be, the `ready` event says `resumed: false` and the views
 * reload what they show. There is no polling: after the first load, everything the page shows comes from here.
 */
export class LiveStream {
  readonly #handlers = new Map<LiveEventName, Set<(data: never) => void>>();
  #abort: AbortController | undefined;
  #lastEventId: string | undefined;
  #running = false;

  constructor(
    private readonly api: ManagementApi,
    private readonly onState: (state: LiveState, detail?: string) => void,
  ) {}

  on<K extends LiveEventName>(type: K, handler: Handler<K>): void {
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    set.add(handler as (data: never) => void);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#run();
  }

  stop(): void {
    this.#running = false;
    this.#abort?.abort();
    this.onState('stopped');
  }

  async #run(): Promise<void> {
    let retryMs = firstRetryMs;
    let first = true;
    while (this.#running) {
      this.onState(first ? 'connecting' : 'reconnecting');
      first = false;
      const outcome = await this.#readOnce(() => {
        retryMs = firstRetryMs;
      });
      if (!this.#running) return;
      if (outcome === 'unauthorized') {
        this.stop();
        return;
      }
      this.onState('reconnecting', outcome);
      await new Promise((resolve) => setTimeout(resolve, retryMs * (0.75 + Math.random() * 0.5)));
      retryMs = Math.min(retryMs * 2, maxRetryMs);
    }
  }

  /** Reads one stream until it ends; says why it ended. */
  async #readOnce(onReady: () => void): Promise<string> {
    const abort = new AbortController();
    this.#abort = abort;
    let silence: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(), silenceMs);
    };
    try {
      const headers: Record<string, string> = { ...this.api.authorization(), accept: 'text/event-stream' };
      if (this.#lastEventId !== undefined) headers['last-event-id'] = this.#lastEventId;
      alive();
      const response = await fetch(`${this.api.base}/events`, {
        headers,
        cache: 'no-store',
        signal: abort.signal,
      });
      if (response.status === 401) {
        this.api.refused();
        return 'unauthorized';
      }
      if (!response.ok || !response.body) return `the emulator answered ${response.status}`;
      const parser = new SseParser((event) => {
        if (event.id !== undefined) this.#lastEventId = event.id;
        if (event.type === 'ready') {
          onReady();
          this.onState('live');
        }
        this.#dispatch(event.type, event.data);
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'the stream ended';
        alive();
        parser.push(value);
      }
    } catch (error) {
      return abort.signal.aborted ? 'no heartbeat' : `the emulator is not reachable (${String(error)})`;
    } finally {
      clearTimeout(silence);
      abort.abort();
    }
  }

  #dispatch(type: string, data: string): void {
    const handlers = this.#handlers.get(type as LiveEventName);
    if (!handlers || handlers.size === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    for (const handler of handlers) {
      try {
        handler(parsed as never);
      } catch (error) {
        console.error(`live event ${type} failed`, error);
      }
    }
  }
}
