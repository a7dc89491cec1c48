import { asSpotflowError, SpotflowError } from '../errors.js';
import type { HubCredentials } from '../iothub/connection-string.js';
import { type MessageProperties, TelemetryTopics, telemetryTopic } from '../iothub/property-bag.js';
import type { Logger } from '../logger.js';
import type { Clock, CompressionLevel, Compressor, MqttConnection, TimerHandle } from '../ports.js';
import { backoffDelay, sleep } from '../util/backoff.js';
import type { Compression, OutboxEntry, OutboxStore } from './store.js';
import { type FileUploader, type UploadProgress, uploadThresholdBytes } from './upload.js';

export interface SenderEvents {
  /** The hub acknowledged the entry (PUBACK). */
  sent(entry: { id: number; mid: string }): void;
  /** Entries up to some id were removed from the database. */
  removed(): void;
  /** Whether a caller waits for rows to leave the outbox: their deletes then go at once, not with a later write. */
  removalAwaited(): boolean;
  uploadProgress(progress: UploadProgress): void;
  error(error: SpotflowError): void;
}

/** Acknowledged rows are deleted in batches: losing a batch to a crash only means a duplicate with the same `$.mid`. */
const deleteBatchDelayMs = 20;
const deleteBatchMax = 1024;
/**
 * A batch then waits up to this long to join a write that happens anyway (the next enqueue's), rather than cost a
 * transaction of its own: at a message a second, a device otherwise commits twice per message. A crash in between
 * resends at most this much more, under the same `$.mid`s.
 */
const deleteJoinWithinMs = 1_000;
const pageSize = 256;
/** IoT Hub's limit for one device-to-cloud message, and what MQTT adds around topic and payload. */
const maxMessageBytes = 256 * 1024;
const maxPacketOverheadBytes = 16;
/**
 * Compression is an optimisation: when the compressor fails (its wasm cannot be downloaded, a proxy stalls it),
 * messages that asked for it go uncompressed, and it is tried again after these delays (doubling, jittered).
 */
const compressorRetry = { initialMs: 10_000, maxMs: 5 * 60_000 };
/** How long a compressor that has not worked yet may take (its load included): 30 s, plus 1 s per 100 kB. */
const unprovenCompressorMs = (bytes: number) => 30_000 + bytes / 100;

/**
 * Streams the outbox to the hub over one connection at a time: reads pages in id order, compresses and uploads
 * where needed, and keeps up to `maxInFlight` QoS 1 publishes outstanding. A row is deleted only after its PUBACK;
 * when the connection drops, everything unacknowledged is sent again on the next one, with the same `$.mid`.
 */
export class OutboxSender {
  readonly #acked = new Set<number>();
  #pendingDelete: { id: number; size: number }[] = [];
  #deleteTimer: TimerHandle | undefined;
  #deleting: Promise<void> = Promise.resolve();
  /** Counts the deletes asked for at once, so batches queued before one no longer wait to join other writes. */
  #hurries = 0;
  /** Bumped by every event the send loop may be waiting for, so a wake-up between check and wait is not lost. */
  #generation = 0;
  /** What waiters of the current generation wait on, made when the first one waits (one per PUBACK once `maxInFlight` is reached). */
  #change: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #topics = new TelemetryTopics();
  /** Whether the compressor has worked since it last failed (a proven one gets no deadline). */
  #compressorProven = false;
  #compressorFailures = 0;
  #compressorRetryAt = 0;
  /** While a connection is up: what an upload started ahead of its entry's commit needs. */
  #running: { credentials: HubCredentials; signal: AbortSignal } | undefined;
  /** Uploads started ahead of their entry's commit ({@link OutboxSender.uploadAhead}), by `$.mid`. */
  readonly #ahead = new Map<string, { blobName: Promise<string>; abort: AbortController }>();

  constructor(
    private readonly store: OutboxStore,
    private readonly compressor: Compressor,
    private readonly uploader: FileUploader,
    private readonly maxInFlight: number,
    private readonly clock: Clock,
    private readonly events: SenderEvents,
    private readonly log: Logger,
  ) {}

  /** New rows were committed. */
  notify(): void {
    this.#generation++;
    this.#change?.resolve();
    this.#change = undefined;
  }

  /** Sends until `closed` resolves (the connection ended). */
  async run(
    connection: MqttConnection,
    credentials: HubCredentials,
    closed: Promise<unknown>,
  ): Promise<void> {
    const stop = new AbortController();
    this.#running = { credentials, signal: stop.signal };
    void closed.then(() => {
      stop.abort();
      this.#running = undefined;
      for (const mid of [...this.#ahead.keys()]) this.forgetAhead(mid);
      this.notify();
    });
    // Rows are read a page at a time into `queue` (memory stays bounded by the page size, whatever the backlog),
    // then published as in-flight slots free up.
    let queue: OutboxEntry[] = [];
    let cursor = 0;
    let inFlight = 0;
    let failures = 0;
    while (!stop.signal.aborted) {
      const seen = this.#generation;
      if (queue.length === 0) {
        let entries: OutboxEntry[];
        try {
          entries = this.store.recentPage(cursor, pageSize) ?? (await this.store.page(cursor, pageSize));
          failures = 0;
        } catch (error) {
          // A failed read (database busy, I/O error) must not end sending until the next reconnect.
          await this.#reportAndWait(error, failures++, stop.signal);
          continue;
        }
        if (entries.length === 0) {
          await this.#waitForChange(seen);
          continue;
        }
        cursor = entries[entries.length - 1]!.id;
        queue = entries.filter((entry) => !this.#acked.has(entry.id));
        continue;
      }
      if (inFlight >= this.maxInFlight) {
        await this.#waitForChange(seen);
        continue;
      }
      const entry = queue[0]!;
      let message = this.#messageNow(entry, credentials);
      if (message === undefined) {
        try {
          message = await this.#prepare(entry, credentials, stop.signal);
          failures = 0;
        } catch (error) {
          // FIFO: nothing after this entry goes before it; wait, then try it again.
          await this.#reportAndWait(error, failures++, stop.signal);
          continue;
        }
      }
      queue.shift();
      if (!message) continue; // dropped by an outbox limit after the page was read
      inFlight++;
      connection.publish(message.topic, message.payload, 1).then(
        () => {
          inFlight--;
          this.#acknowledge(entry);
          this.notify();
        },
        () => {
          // The connection dropped before the PUBACK: the row stays and goes again on the next connection. Stop
          // here rather than when the connection's end is reported: a refused publish settles at once, so
          // carrying on would read (and refuse) the whole backlog first, which held close() for 40 s at 1 M.
          inFlight--;
          stop.abort();
          this.notify();
        },
      );
    }
  }

  /**
   * Starts the file upload of a large payload while its enqueue is still being made durable, so that the two overlap
   * (5 MB: the durable write took 38 ms, then the upload began). Only the blob goes early: the message that links to
   * it is sent in outbox order once the entry is committed, like any other, so an enqueue that fails is never
   * delivered (its blob stays unreferenced). Compressed payloads are left to the sender (their size decides).
   */
  uploadAhead(mid: string, payload: Uint8Array, compression: Compression): void {
    const running = this.#running;
    if (!running || running.signal.aborted) return;
    if (compression !== 'none' || payload.length <= uploadThresholdBytes) return;
    const abort = new AbortController();
    const onStop = () => abort.abort();
    running.signal.addEventListener('abort', onStop, { once: true });
    const blobName = this.uploader.upload(
      running.credentials,
      mid,
      payload,
      (progress) => this.events.uploadProgress(progress),
      abort.signal,
    );
    // Awaited by #prepare, where a failure means uploading again: never unhandled meanwhile. The connection's signal
    // outlives the upload: its listener goes with it.
    blobName.then(
      () => running.signal.removeEventListener('abort', onStop),
      () => running.signal.removeEventListener('abort', onStop),
    );
    this.#ahead.set(mid, { blobName, abort });
  }

  /** The enqueue of `mid` failed (or the connection ended): its upload ahead is not needed. */
  forgetAhead(mid: string): void {
    this.#ahead.get(mid)?.abort.abort();
    this.#ahead.delete(mid);
  }

  /**
   * Deletes acknowledged rows now (used by close and by waits); `whenConvenient`: with the next write that happens
   * anyway, within {@link deleteJoinWithinMs} (the batch timer's way).
   */
  async flushDeletes(whenConvenient = false): Promise<void> {
    if (this.#deleteTimer !== undefined) {
      this.clock.clearTimeout(this.#deleteTimer);
      this.#deleteTimer = undefined;
    }
    // Batches before this one, waiting to join another write or queued to, would hold it up: they go now too.
    if (!whenConvenient) {
      this.#hurries++;
      this.store.removeWaitingNow();
    }
    const hurries = this.#hurries;
    const sent = this.#pendingDelete;
    this.#pendingDelete = [];
    this.#deleting = this.#deleting.then(async () => {
      if (sent.length === 0) return;
      const join = whenConvenient && hurries === this.#hurries && !this.events.removalAwaited();
      try {
        await this.store.remove(sent, join ? deleteJoinWithinMs : undefined);
        for (const { id } of sent) this.#acked.delete(id);
        this.events.removed();
      } catch (error) {
        // Kept in #acked, so they are not resent in this process; retried with the next batch.
        this.#pendingDelete.push(...sent);
        this.#report(error);
      }
    });
    await this.#deleting;
  }

  #acknowledge(entry: OutboxEntry): void {
    this.#acked.add(entry.id);
    this.#pendingDelete.push({ id: entry.id, size: entry.size });
    this.events.sent({ id: entry.id, mid: entry.mid });
    if (this.#pendingDelete.length >= deleteBatchMax) void this.flushDeletes(true);
    else this.#deleteTimer ??= this.clock.setTimeout(() => void this.flushDeletes(true), deleteBatchDelayMs);
  }

  /**
   * The MQTT message of a small uncompressed entry whose payload came with its page, built without waiting (the
   * common case, and a few promises less per message); undefined when {@link OutboxSender.#prepare} must decide.
   */
  #messageNow(entry: OutboxEntry, credentials: HubCredentials): OutboxMessage | undefined {
    if (entry.upload !== null || (entry.compression !== 'none' && entry.size > 0)) return undefined;
    const payload = this.store.inlinePayloadOf(entry);
    if (payload === undefined || payload.length > uploadThresholdBytes) return undefined;
    const topic = this.#topics.of(credentials.hubDeviceId, entry.properties, entry.mid);
    return fitsOneMessage(topic, payload) ? { topic, payload } : undefined;
  }

  /** The MQTT message for an entry: compressed when that is smaller, uploaded when too large to go inline. */
  async #prepare(
    entry: OutboxEntry,
    credentials: HubCredentials,
    signal: AbortSignal,
  ): Promise<OutboxMessage | undefined> {
    const properties: MessageProperties = { ...entry.properties, mid: entry.mid };
    if (entry.upload) return linkMessage(credentials, properties, entry.upload);
    let payload = await this.store.payloadOf(entry);
    if (payload === undefined) return undefined;
    if (entry.compression !== 'none' && payload.length > 0) {
      const compressed = await this.#compressIfAvailable(payload, entry.compression);
      if (compressed !== undefined && compressed.length < payload.length) {
        payload = compressed;
        properties.contentEncoding = 'br';
      }
    }
    const topic =
      properties.contentEncoding === undefined
        ? this.#topics.of(credentials.hubDeviceId, entry.properties, entry.mid)
        : telemetryTopic(credentials.hubDeviceId, properties);
    if (fitsOneMessage(topic, payload) && payload.length <= uploadThresholdBytes) return { topic, payload };
    const blobName =
      (await this.#takeAhead(entry.mid)) ??
      (await this.uploader.upload(
        credentials,
        entry.mid,
        payload,
        (progress) => this.events.uploadProgress(progress),
        signal,
      ));
    const upload = { blobName, compressed: properties.contentEncoding === 'br' };
    await this.store.rememberUpload(entry.id, upload);
    return linkMessage(credentials, properties, upload);
  }

  /** The blob of an upload started ahead for `mid`, or undefined when there was none or it failed (upload again). */
  async #takeAhead(mid: string): Promise<string | undefined> {
    const ahead = this.#ahead.get(mid);
    if (ahead === undefined) return undefined;
    this.#ahead.delete(mid);
    return ahead.blobName.catch(() => undefined);
  }

  /**
   * The payload compressed, or undefined while the compressor is failing: the message then goes as it is (the
   * platform takes both), so a compressor that cannot load never holds up delivery. A failure is reported once
   * until the compressor works again; meanwhile it is tried again after a growing delay, not by every message.
   */
  async #compressIfAvailable(payload: Uint8Array, level: CompressionLevel): Promise<Uint8Array | undefined> {
    if (this.#compressorFailures > 0 && this.clock.monotonicNow() < this.#compressorRetryAt) return undefined;
    try {
      const compressing = this.compressor.compress(payload, level);
      const compressed = this.#compressorProven
        ? await compressing
        : await this.#withDeadline(compressing, unprovenCompressorMs(payload.length));
      this.#compressorProven = true;
      this.#compressorFailures = 0;
      return compressed;
    } catch (error) {
      this.#compressorProven = false;
      this.#compressorRetryAt =
        this.clock.monotonicNow() + backoffDelay(this.#compressorFailures, compressorRetry);
      if (this.#compressorFailures++ === 0) {
        const cause = asSpotflowError(error, 'The compressor failed');
        const reported = new SpotflowError(
          cause.code,
          `${cause.message}; messages that ask for compression are sent uncompressed until it works`,
          { cause },
        );
        this.log.warn('Compression unavailable; sending uncompressed', { error: reported });
        this.events.error(reported);
      }
      return undefined;
    }
  }

  /** `work`, or a TIMEOUT rejection after `ms` (the work's own outcome is then ignored). */
  #withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
    let timer: TimerHandle | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.clock.setTimeout(
        () =>
          reject(
            new SpotflowError('TIMEOUT', `The compressor did not answer within ${Math.round(ms / 1000)} s`),
          ),
        ms,
      );
    });
    work.catch(() => {});
    return Promise.race([work, deadline]).finally(() => this.clock.clearTimeout(timer));
  }

  /** Waits until something happened after generation `seen` (returns at once if it already has). */
  #waitForChange(seen: number): Promise<void> {
    if (this.#generation !== seen) return Promise.resolve();
    if (this.#change === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => {
        resolve = settle;
      });
      this.#change = { promise, resolve };
    }
    return this.#change.promise;
  }

  /** Reports a failure, then waits a jittered, growing delay (cut short when the connection ends). */
  async #reportAndWait(error: unknown, failures: number, signal: AbortSignal): Promise<void> {
    this.#report(error);
    await sleep(this.clock, backoffDelay(failures), signal).catch(() => {});
  }

  #report(error: unknown): void {
    const spotflowError = asSpotflowError(error, 'Unexpected error while sending messages');
    this.log.warn('Sending failed; will retry', { error: spotflowError });
    this.events.error(spotflowError);
  }
}

interface OutboxMessage {
  topic: string;
  payload: Uint8Array;
}

/** The hub takes at most 256 KB per message, topic (its property bag) included. */
function fitsOneMessage(topic: string, payload: Uint8Array): boolean {
  return payload.length + topic.length + maxPacketOverheadBytes <= maxMessageBytes;
}

/** The message that points the platform at an uploaded payload (SPEC §3: `{"link": …}`, externalized). */
function linkMessage(
  credentials: HubCredentials,
  properties: MessageProperties,
  upload: NonNullable<OutboxEntry['upload']>,
): OutboxMessage {
  const linked: MessageProperties = { ...properties, externalized: true };
  if (upload.compressed) linked.contentEncoding = 'br';
  return {
    topic: telemetryTopic(credentials.hubDeviceId, linked),
    payload: new TextEncoder().encode(JSON.stringify({ link: upload.blobName })),
  };
}
