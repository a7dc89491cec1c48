import ky, { type KyInstance } from 'ky';
import { isSpotflowError, SpotflowError } from '../errors.js';
import { type HubCredentials, hubEndpoints } from '../iothub/connection-string.js';
import type { Clock } from '../ports.js';
import { type Answer, exchange, jsonOf } from '../util/http.js';
import type { Secrets } from '../util/secrets.js';
import { tlsError, tlsVerificationCode } from '../util/tls.js';

/** Payloads above this many bytes (after compression) go through file upload (SPEC §3). */
export const uploadThresholdBytes = 250_000;
const blockBytes = 1024 * 1024;
/** Blocks of one upload in flight at once. */
const blockConcurrency = 4;
const apiVersion = '2020-03-13';
/** One deadline per request, sending the block and reading the answer together. */
const requestTimeoutMs = 120_000;
/** The largest answer read: the hub's and blob storage's answers are a few kB at most. */
const maxAnswerBytes = 64 * 1024;

/** How far the file upload of a large message has got. */
export interface UploadProgress {
  /** The message's id. */
  mid: string;
  /** Bytes uploaded so far. */
  sentBytes: number;
  /** Bytes the upload has in all. */
  totalBytes: number;
}

interface UploadSession {
  correlationId: string;
  hostName: string;
  containerName: string;
  blobName: string;
  sasToken: string;
}

function readSession(body: unknown): UploadSession {
  const value = body as Record<string, unknown> | null;
  const field = (name: string) => {
    const v = value?.[name];
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) {
      throw new SpotflowError('PROTOCOL', `The hub's file upload answer has no valid ${name}`);
    }
    return v;
  };
  const session = {
    correlationId: field('correlationId'),
    hostName: field('hostName'),
    containerName: field('containerName'),
    blobName: field('blobName'),
    sasToken: field('sasToken'),
  };
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(session.hostName)) {
    throw new SpotflowError('PROTOCOL', "The hub's file upload answer has an invalid hostName");
  }
  if (!session.sasToken.startsWith('?'))
    throw new SpotflowError('PROTOCOL', 'The blob SAS token must start with ?');
  return session;
}

/**
 * IoT Hub file upload: ask the hub for a blob SAS, PUT the bytes to blob storage in 1 MiB blocks (so progress can
 * be reported), then tell the hub how it went. Returns the blob name the telemetry message links to.
 */
export class FileUploader {
  readonly #http: KyInstance;

  readonly #timeoutMs: number;

  readonly #secrets: Secrets | undefined;

  /**
   * @param options.timeoutMs the deadline of each request (default 120 s); tests shorten it.
   * @param options.secrets the client's secrets, which the blob SAS tokens the hub hands out join.
   */
  constructor(
    private readonly instance: string,
    fetchImpl: typeof fetch,
    private readonly clock: Clock,
    options: { timeoutMs?: number; secrets?: Secrets } = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? requestTimeoutMs;
    this.#secrets = options.secrets;
    // ky's own timeout covers only the headers: the deadline is `exchange`'s.
    this.#http = ky.create({ fetch: fetchImpl, retry: 0, timeout: false, throwHttpErrors: false });
  }

  async upload(
    credentials: HubCredentials,
    mid: string,
    bytes: Uint8Array,
    onProgress: (progress: UploadProgress) => void,
    signal?: AbortSignal,
  ): Promise<string> {
    const endpoints = hubEndpoints(credentials.hostName, this.instance);
    const files = `${endpoints.httpsBase}/devices/${encodeURIComponent(credentials.hubDeviceId)}/files`;
    const headers = { authorization: credentials.sasToken };
    const hub = `the hub ${credentials.hostName}`;
    const session = readSession(
      jsonOf(
        (
          await this.#call("The hub's file upload answer", hub, signal, (deadline) =>
            this.#http.post(`${files}?api-version=${apiVersion}`, {
              json: { blobName: `${mid}.bin` },
              headers,
              signal: deadline,
            }),
          )
        ).body,
      ),
    );
    this.#secrets?.add(session.sasToken);
    let success = false;
    let description = 'upload failed';
    try {
      await this.#putBlocks(session, endpoints.secure, mid, bytes, onProgress, signal);
      success = true;
      description = 'uploaded';
    } finally {
      // The hub must always hear how the upload ended; a failure to tell it must not hide the upload's own error.
      await this.#call("The hub's answer to the upload notification", hub, signal, (deadline) =>
        this.#http.post(`${files}/notifications?api-version=${apiVersion}`, {
          json: {
            correlationId: session.correlationId,
            isSuccess: success,
            statusCode: success ? 200 : 500,
            statusDescription: description,
          },
          headers,
          signal: deadline,
        }),
      ).catch((error: unknown) => {
        if (success) throw error;
      });
    }
    return session.blobName;
  }

  async #putBlocks(
    session: UploadSession,
    secure: boolean,
    mid: string,
    bytes: Uint8Array,
    onProgress: (progress: UploadProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const path = session.blobName.split('/').map(encodeURIComponent).join('/');
    const blobUrl = `${secure ? 'https' : 'http'}://${session.hostName}/${encodeURIComponent(session.containerName)}/${path}`;
    const storage = `blob storage ${session.hostName}`;
    onProgress({ mid, sentBytes: 0, totalBytes: bytes.length });
    if (bytes.length <= blockBytes) {
      // One request: IoT Hub's documented upload (Put Blob with x-ms-blob-type: BlockBlob).
      await this.#call("Blob storage's answer", storage, signal, (deadline) =>
        this.#http.put(`${blobUrl}${session.sasToken}`, {
          body: requestBody(bytes),
          headers: { 'x-ms-blob-type': 'BlockBlob' },
          signal: deadline,
        }),
      );
      onProgress({ mid, sentBytes: bytes.length, totalBytes: bytes.length });
      return;
    }
    // Larger payloads go in blocks (Put Block, then Put Block List), so progress can be reported as they go, a few
    // at a time (as Azure's own SDKs do): each block then costs a fraction of a round trip rather than a whole one.
    const blocks: { id: string; offset: number; end: number }[] = [];
    for (let offset = 0; offset < bytes.length; offset += blockBytes) {
      // Block ids must all have the same length: a zero-padded counter, base64-encoded.
      const id = btoa(String(blocks.length).padStart(6, '0'));
      blocks.push({ id, offset, end: Math.min(offset + blockBytes, bytes.length) });
    }
    let sentBytes = 0;
    await inParallel(blocks, blockConcurrency, signal, async ({ id, offset, end }, blockSignal) => {
      await this.#call("Blob storage's answer", storage, blockSignal, (deadline) =>
        this.#http.put(`${blobUrl}${session.sasToken}&comp=block&blockid=${encodeURIComponent(id)}`, {
          body: requestBody(bytes.subarray(offset, end)),
          signal: deadline,
        }),
      );
      sentBytes += end - offset;
      onProgress({ mid, sentBytes, totalBytes: bytes.length });
    });
    const ids = blocks.map((block) => block.id);
    const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
    await this.#call("Blob storage's answer", storage, signal, (deadline) =>
      this.#http.put(`${blobUrl}${session.sasToken}&comp=blocklist`, {
        body: list,
        headers: { 'content-type': 'application/xml' },
        signal: deadline,
      }),
    );
  }

  /**
   * One request under one deadline (headers and body), its answer capped; a status other than 2xx is UPLOAD_FAILED,
   * a certificate that cannot be verified TLS naming `host`. Errors name the status or the failure, never the URL
   * (blob URLs carry a SAS token).
   */
  async #call(
    what: string,
    host: string,
    signal: AbortSignal | undefined,
    send: (signal: AbortSignal) => Promise<Response>,
  ): Promise<Answer> {
    let answer: Answer;
    try {
      answer = await exchange(
        this.clock,
        { timeoutMs: this.#timeoutMs, maxBodyBytes: maxAnswerBytes, what },
        signal,
        send,
      );
    } catch (error) {
      if (isSpotflowError(error)) throw error;
      // No `cause`: ky's errors quote the request URL, and blob URLs carry a SAS token. Tried again at the sender's
      // backoff, as the MQTT session does (a clock still wrong at boot sees a valid certificate as not yet valid).
      const verification = tlsVerificationCode(error);
      if (verification !== undefined) throw tlsError(host, verification, { retried: true });
      const name = error instanceof Error ? error.name : 'Error';
      throw new SpotflowError('UPLOAD_FAILED', `File upload failed: storage not reachable (${name})`);
    }
    if (answer.status < 200 || answer.status > 299) {
      throw new SpotflowError('UPLOAD_FAILED', `File upload failed with HTTP ${answer.status}`);
    }
    return answer;
  }
}

/**
 * A request body must be backed by an `ArrayBuffer` (fetch refuses shared memory). Payloads always are; one that is
 * not is copied rather than cast.
 */
function requestBody(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/**
 * Runs `work` on every item, at most `limit` at a time, in order of the items. The first failure stops the rest: no
 * new item starts, the ones in flight are aborted (through the signal each gets), and it is thrown once they have
 * settled, so nothing of the upload runs on after it failed.
 */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  work: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const stop = new AbortController();
  const stopOnAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', stopOnAbort, { once: true });
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item, stop.signal);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  } finally {
    signal?.removeEventListener('abort', stopOnAbort);
  }
  if (failure !== undefined) throw failure.error;
}
