/**
 * Reported-property patches: stored first (the `reported_patches` table), merged into the last pending one while
 * it is not being sent, and sent in order when online, one at a time, with paced retries.
 */
import { abortedError, SpotflowError } from '../errors.js';
import type { Clock, Database, MqttConnection } from '../ports.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import { applyMergePatch, type JsonObject, mergePatches } from './merge-patch.js';
import type { TwinRequests } from './requests.js';
import type { TwinState } from './twin-state.js';

interface PendingPatch {
  id: number;
  patch: JsonObject;
}

export interface ReportedQueueEvents {
  reportedPropertiesSent(reported: { version: number }): void;
  error(error: unknown): void;
}

export class ReportedQueue {
  #pending: PendingPatch[] = [];
  /** The pending row being sent: {@link ReportedQueue.#store} appends after it rather than merge into it. */
  #sendingId: number | undefined;
  /** A merge into the last pending row while its UPDATE runs; settles (never rejects) once `patch` is replaced. */
  #merging: Promise<void> | undefined;
  /** Stores, one after the other, in the order `add` was called. */
  #stores: Promise<unknown> = Promise.resolve();
  #flushing: Promise<void> | undefined;
  /** Failed attempts in a row to send a patch (429, 5xx, no answer): paces retries; 0 after a success. */
  #failures = 0;
  /** Ends the wait before the next retry early: a new connection may try at once, a lost one stops waiting. */
  #wakeRetry: (() => void) | undefined;
  readonly #sentWaiters = new Set<() => void>();

  private constructor(
    private readonly db: Database,
    private readonly device: string,
    private readonly clock: Clock,
    private readonly state: TwinState,
    private readonly requests: TwinRequests,
    /** The connection to send on, owned by the twin; undefined while offline. */
    private readonly connection: () => MqttConnection | undefined,
    private readonly events: ReportedQueueEvents,
  ) {}

  static async load(
    db: Database,
    device: string,
    clock: Clock,
    state: TwinState,
    requests: TwinRequests,
    connection: () => MqttConnection | undefined,
    events: ReportedQueueEvents,
  ): Promise<ReportedQueue> {
    const queue = new ReportedQueue(db, device, clock, state, requests, connection, events);
    const rows = await db.query<{ id: number; patch: string }>(
      'SELECT id, patch FROM reported_patches WHERE device = ? ORDER BY id',
      [device],
    );
    queue.#pending = rows.map((row) => ({ id: Number(row.id), patch: JSON.parse(row.patch) as JsonObject }));
    return queue;
  }

  /** `values` with every pending patch applied, in order. */
  applyPending(values: JsonObject): JsonObject {
    for (const { patch } of this.#pending) values = applyMergePatch(values, patch);
    return values;
  }

  /** Stores a (checked) patch; resolves once it is durable. */
  add(patch: JsonObject): Promise<void> {
    const run = this.#stores.then(() => this.#store(patch));
    this.#stores = run.catch(() => {});
    return run;
  }

  /** Resolves when no patch is being stored. */
  async idle(): Promise<void> {
    await this.#stores;
  }

  /** Sends what is pending now: a connection came (or came back), so a retry need not wait out its backoff. */
  sendNow(): void {
    this.#wakeRetry?.();
    this.#flush();
  }

  /** The connection is gone: a retry waiting for its time ends now (and no timer may outlive close). */
  stopWaiting(): void {
    this.#wakeRetry?.();
  }

  /** Retries start afresh (the identity changed: the old one's throttling says nothing of the new one's). */
  resetPacing(): void {
    this.#failures = 0;
  }

  /** Resolves when every patch added so far (stored, or still being stored) has been acknowledged by the hub. */
  async waitSent(signal?: AbortSignal): Promise<void> {
    // A patch added but not awaited is not pending yet: wait until it is, or it would not be waited for.
    await this.#stores;
    if (this.#pending.length === 0) return;
    if (signal?.aborted) throw abortedError(signal);
    return new Promise((resolve, reject) => {
      const done = () => {
        if (this.#pending.length > 0) return;
        this.#sentWaiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#sentWaiters.delete(done);
        reject(abortedError(signal));
      };
      this.#sentWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #store(patch: JsonObject): Promise<void> {
    const last = this.#pending[this.#pending.length - 1];
    const merged = last && last.id !== this.#sendingId ? mergePatches(last.patch, patch) : undefined;
    if (last && merged) {
      // Database writes may be slow (IndexedDB, a worker): sending can start on this row before the UPDATE is
      // done. It then waits for `#merging`, so it sends the merged patch, not the old one whose acknowledgement
      // would delete the row with the new data in it.
      const merging = (async () => {
        await this.db.write([
          {
            sql: 'UPDATE reported_patches SET patch = ? WHERE id = ?',
            params: [JSON.stringify(merged), last.id],
          },
        ]);
        last.patch = merged;
      })();
      const settled = merging.catch(() => {});
      this.#merging = settled;
      try {
        await merging;
      } finally {
        if (this.#merging === settled) this.#merging = undefined;
      }
    } else {
      const [result] = await this.db.write([
        {
          sql: 'INSERT INTO reported_patches (device, patch) VALUES (?, ?)',
          params: [this.device, JSON.stringify(patch)],
        },
      ]);
      this.#pending.push({ id: result!.lastInsertRowid, patch });
    }
    this.#flush();
  }

  #flush(): void {
    if (this.#flushing || !this.connection()) return;
    this.#flushing = this.#sendPending().finally(() => {
      this.#flushing = undefined;
      // Patches stored while the last one was in flight.
      if (this.#pending.length > 0 && this.connection()) this.#flush();
    });
  }

  async #sendPending(): Promise<void> {
    // The event tells of patches the hub took; a connect with nothing pending sends nothing and tells nothing.
    let sent = false;
    while (this.#pending.length > 0) {
      const connection = this.connection();
      if (!connection) break;
      const outcome = await this.#sendFirst(connection);
      if (outcome === 'lost') break;
      if (outcome === 'sent') sent = true;
      if (outcome === 'failed') await this.#retryPause();
    }
    if (sent) this.events.reportedPropertiesSent({ version: this.state.reported.version });
    for (const waiter of [...this.#sentWaiters]) waiter();
  }

  /** Sends the oldest pending patch once. `failed`: worth retrying later; `lost`: the connection went away. */
  async #sendFirst(connection: MqttConnection): Promise<'sent' | 'dropped' | 'failed' | 'lost'> {
    const next = this.#pending[0]!;
    // Claim the row before anything else, so that no merge into it starts from now on; then wait for one that
    // had already started, and send what the row holds once it is done.
    this.#sendingId = next.id;
    try {
      await this.#merging;
      const patch = next.patch;
      const taken = (status: number) => status === 204 || status === 200;
      const response = await this.requests.send(
        connection,
        'PATCH/properties/reported/',
        new TextEncoder().encode(JSON.stringify(patch)),
        (response) =>
          taken(response.status)
            ? this.state
                .acknowledgeReported(patch, response.version, [this.#deleteRow(next)], () =>
                  this.#remove(next),
                )
                .then(() => response)
            : Promise.resolve(response),
      );
      if (taken(response.status)) {
        this.#failures = 0;
        return 'sent';
      }
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        // The hub will never take this patch: drop it rather than block every later one.
        await this.db.write([this.#deleteRow(next)]);
        this.#remove(next);
        this.events.error(
          new SpotflowError('PROTOCOL', `The hub rejected a reported-properties patch (${response.status})`),
        );
        return 'dropped';
      }
      // 429 (throttled) or 5xx: the hub may take it later.
      this.#failed(new SpotflowError('NETWORK', `The hub answered a reported patch with ${response.status}`));
      return 'failed';
    } catch (error) {
      if (this.connection() !== connection) return 'lost';
      this.#failed(error);
      return 'failed';
    } finally {
      this.#sendingId = undefined;
    }
  }

  /** One more failed attempt; only the first of a streak is reported, so a throttling hub causes one error. */
  #failed(error: unknown): void {
    if (this.#failures === 0) this.events.error(error);
    this.#failures++;
  }

  /**
   * Waits before retrying after `#failures` failed attempts (jittered, growing), so that a hub answering 429 or
   * 5xx is not hammered. The claim on the row is released meanwhile: new patches merge into it.
   */
  async #retryPause(): Promise<void> {
    const wake = new AbortController();
    this.#wakeRetry = () => wake.abort();
    await sleep(this.clock, backoffDelay(this.#failures - 1), wake.signal).catch(() => {});
    this.#wakeRetry = undefined;
  }

  #deleteRow(row: PendingPatch) {
    return { sql: 'DELETE FROM reported_patches WHERE id = ?', params: [row.id] };
  }

  #remove(row: PendingPatch): void {
    const index = this.#pending.indexOf(row);
    if (index >= 0) this.#pending.splice(index, 1);
  }
}
