import { timingSafeEqual } from 'node:crypto';
import { type EmulatorDatabase, statementCache } from './database.js';

/** The blob container file uploads land in (served by the emulator at `/{uploadContainer}/{blobName}`). */
export const uploadContainer = 'uploads';
/** Largest blob, whether written in one PUT or staged as blocks (the SDK's largest payload is 64 MiB too). */
export const maxBlobBytes = 64 * 1024 * 1024;
/** Most blocks one blob may stage (Azure allows 50,000 committed blocks per blob). */
export const maxBlobBlocks = 50_000;

export interface FileUpload {
  correlationId: string;
  deviceId: string;
  blobName: string;
  sasToken: string;
}

/** A stored blob and what its newest upload session heard from the device. */
export interface StoredFile {
  name: string;
  size: number;
  uploadedAt: number;
  /** The device sent the upload notification (`isSuccess` is what it said). */
  notified: boolean;
  isSuccess: boolean | null;
}

/** Most files one listing returns (the newest). */
export const maxListedFiles = 1000;

/** Why `uploadFor` found no upload that may write the blob. */
export type UploadRefusal = 'no-upload' | 'expired';

/** A blob's content as it was when read: immutable, so a message can refer to it instead of copying its bytes. */
export interface BlobContent {
  id: number;
  size: number;
}

/**
 * The bytes of a stored content (see `BlobStore`), or undefined when nothing refers to it any more; with `limit`,
 * only its first `limit` bytes. A content of one chunk (a blob written by a single PUT) is returned as SQLite hands
 * it over, several are concatenated.
 */
export function readBlobContent(db: EmulatorDatabase, contentId: number, limit?: number): Buffer | undefined {
  const column = limit === undefined ? 'c.content' : 'substr(c.content, 1, ?)';
  const parts: Buffer[] = [];
  let bytes = 0;
  const rows = db
    .prepare(
      `SELECT ${column} FROM blob_content_parts p JOIN blob_chunks c ON c.id = p.chunk_id
       WHERE p.content_id = ? ORDER BY p.position`,
    )
    .pluck()
    .iterate(...(limit === undefined ? [contentId] : [limit, contentId])) as IterableIterator<Buffer>;
  for (const part of rows) {
    parts.push(part);
    bytes += part.length;
    // Leaving the loop early ends the statement: the rest of a large content is never read.
    if (limit !== undefined && bytes >= limit) break;
  }
  if (parts.length === 0) return undefined;
  const content = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return limit === undefined ? content : content.subarray(0, limit);
}

/**
 * The blob store behind file upload, and the upload sessions the hub hands out.
 *
 * Bytes are written once, as the chunk a PUT or a Put Block brought (schema: database.ts). A blob names a content,
 * and a content is its chunks in order: committing a block list writes only that list, never the bytes again, and an
 * externalized message refers to the content rather than holding a copy. Both are in the request path of an upload
 * (issue 19), where IoT Hub copies nothing either. A committed blob is in SQLite before its 201.
 */
export class BlobStore {
  readonly #sql: ReturnType<typeof statementCache>;

  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
  ) {
    this.#sql = statementCache(db);
  }

  put(container: string, name: string, content: Buffer): void {
    this.db.transaction(() => {
      const chunk = this.#chunk(content);
      this.#setContent(container, name, [chunk], content.length);
    })();
  }

  get(container: string, name: string): Buffer | undefined {
    const content = this.content(container, name);
    return content && this.read(content.id);
  }

  /** A content's bytes (its first `limit`, if given); see `readBlobContent`. */
  read(contentId: number, limit?: number): Buffer | undefined {
    return readBlobContent(this.db, contentId, limit);
  }

  /** What the blob holds now (its content's id and size), or undefined when there is no such blob. */
  content(container: string, name: string): BlobContent | undefined {
    return this.#sql(
      `SELECT c.id, c.size FROM blobs b JOIN blob_contents c ON c.id = b.content_id
       WHERE b.container = ? AND b.name = ?`,
    ).get(container, name) as BlobContent | undefined;
  }

  /** The stored blobs whose names start with `prefix`, newest first (at most `maxListedFiles`). */
  files(container: string, prefix: string): StoredFile[] {
    return (
      this.db
        .prepare(
          `${fileSelect} AND substr(b.name, 1, ?) = ? ORDER BY b.uploaded_at DESC, b.rowid DESC LIMIT ?`,
        )
        .all(container, prefix.length, prefix, maxListedFiles) as FileRow[]
    ).map(toStoredFile);
  }

  /** One stored blob's summary (without its content), or undefined. */
  file(container: string, name: string): StoredFile | undefined {
    const row = this.#sql(`${fileSelect} AND b.name = ?`).get(container, name) as FileRow | undefined;
    return row && toStoredFile(row);
  }

  /**
   * What the blob's staged blocks hold, leaving out `exceptBlockId` (a block staged again replaces itself):
   * their number and total size.
   */
  staged(container: string, name: string, exceptBlockId: string): { blocks: number; bytes: number } {
    return this.#sql(
      `SELECT COUNT(*) AS blocks, COALESCE(SUM(size), 0) AS bytes FROM blob_staged
       WHERE container = ? AND name = ? AND block_id <> ?`,
    ).get(container, name, exceptBlockId) as { blocks: number; bytes: number };
  }

  /** Stages one block of a block blob (Azure's Put Block). */
  stageBlock(container: string, name: string, blockId: string, content: Buffer): void {
    this.db.transaction(() => {
      // Deleted rather than updated in place, so the trigger frees the chunk it replaces.
      this.#sql('DELETE FROM blob_staged WHERE container = ? AND name = ? AND block_id = ?').run(
        container,
        name,
        blockId,
      );
      this.#sql(
        'INSERT INTO blob_staged (container, name, block_id, chunk_id, size) VALUES (?, ?, ?, ?, ?)',
      ).run(container, name, blockId, this.#chunk(content), content.length);
    })();
  }

  /**
   * Commits staged blocks in the given order as the blob's content (Put Block List). Refuses a list naming a block
   * that was never staged, or one whose blocks (a block may be listed more than once) add up to more than
   * `maxBlobBytes`. The blob's content becomes the list of the blocks' chunks; the bytes stay where they were staged.
   */
  commitBlocks(
    container: string,
    name: string,
    blockIds: string[],
  ): 'committed' | 'unknown-block' | 'too-large' {
    return this.db.transaction(() => {
      const block = this.#sql(
        'SELECT chunk_id AS chunk, size FROM blob_staged WHERE container = ? AND name = ? AND block_id = ?',
      );
      const chunks: number[] = [];
      let total = 0;
      for (const id of blockIds) {
        const row = block.get(container, name, id) as { chunk: number; size: number } | undefined;
        if (!row) return 'unknown-block' as const;
        total += row.size;
        if (total > maxBlobBytes) return 'too-large' as const;
        chunks.push(row.chunk);
      }
      this.#setContent(container, name, chunks, total);
      // The chunks the list left out go with their staging (trigger blob_chunk_released_by_staging).
      this.#sql('DELETE FROM blob_staged WHERE container = ? AND name = ?').run(container, name);
      return 'committed' as const;
    })();
  }

  /** Writes bytes once, as a chunk; returns its id. */
  #chunk(content: Buffer): number {
    return Number(this.#sql('INSERT INTO blob_chunks (content) VALUES (?)').run(content).lastInsertRowid);
  }

  /** Points the blob at a new content made of `chunks` in order (the old one is freed by trigger when unused). */
  #setContent(container: string, name: string, chunks: number[], size: number): void {
    const contentId = Number(
      this.#sql('INSERT INTO blob_contents (size) VALUES (?)').run(size).lastInsertRowid,
    );
    const part = this.#sql(
      'INSERT INTO blob_content_parts (content_id, position, chunk_id) VALUES (?, ?, ?)',
    );
    for (const [position, chunk] of chunks.entries()) part.run(contentId, position, chunk);
    this.#sql(
      `INSERT INTO blobs (container, name, content_id, uploaded_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (container, name) DO UPDATE SET content_id = excluded.content_id, uploaded_at = excluded.uploaded_at`,
    ).run(container, name, contentId, this.now());
  }

  startUpload(upload: FileUpload): void {
    this.db
      .prepare(
        'INSERT INTO file_uploads (correlation_id, device_id, blob_name, sas_token, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(upload.correlationId, upload.deviceId, upload.blobName, upload.sasToken, this.now());
  }

  /**
   * The open upload of this blob whose SAS token carries `signature` (compared in constant time) and has not
   * expired (`se`); otherwise why not.
   */
  uploadFor(blobName: string, signature: string): FileUpload | UploadRefusal {
    const rows = this.db
      .prepare('SELECT * FROM file_uploads WHERE blob_name = ? AND completed = 0')
      .all(blobName) as { correlation_id: string; device_id: string; blob_name: string; sas_token: string }[];
    const given = Buffer.from(signature);
    const row = rows.find((r) => {
      const expected = Buffer.from(new URLSearchParams(r.sas_token).get('sig') ?? '');
      return expected.length > 0 && expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!row) return 'no-upload';
    const expiry = Date.parse(new URLSearchParams(row.sas_token).get('se') ?? '');
    if (!Number.isFinite(expiry) || expiry <= this.now()) return 'expired';
    return {
      correlationId: row.correlation_id,
      deviceId: row.device_id,
      blobName: row.blob_name,
      sasToken: row.sas_token,
    };
  }

  /** The blob an upload session writes (the full name, `{hubDeviceId}/{name}`), if the session exists. */
  uploadBlobName(deviceId: string, correlationId: string): string | undefined {
    const row = this.db
      .prepare('SELECT blob_name FROM file_uploads WHERE correlation_id = ? AND device_id = ?')
      .get(correlationId, deviceId) as { blob_name: string } | undefined;
    return row?.blob_name;
  }

  /** Records the device's notification; false when the correlation id is unknown to this device or already closed. */
  completeUpload(deviceId: string, correlationId: string, isSuccess: boolean): boolean {
    return (
      this.db
        .prepare(
          'UPDATE file_uploads SET completed = 1, is_success = ? WHERE correlation_id = ? AND device_id = ? AND completed = 0',
        )
        .run(isSuccess ? 1 : 0, correlationId, deviceId).changes === 1
    );
  }
}

/** A blob's size and time, and the notification of its newest upload session. */
const fileSelect = `SELECT b.name, c.size, b.uploaded_at,
    (SELECT completed FROM file_uploads f WHERE f.blob_name = b.name
       ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1) AS completed,
    (SELECT is_success FROM file_uploads f WHERE f.blob_name = b.name
       ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1) AS is_success
  FROM blobs b JOIN blob_contents c ON c.id = b.content_id WHERE b.container = ?`;

interface FileRow {
  name: string;
  size: number;
  uploaded_at: number;
  completed: number | null;
  is_success: number | null;
}

function toStoredFile(row: FileRow): StoredFile {
  return {
    name: row.name,
    size: row.size,
    uploadedAt: row.uploaded_at,
    notified: row.completed === 1,
    isSuccess: row.completed === 1 && row.is_success !== null ? row.is_success === 1 : null,
  };
}
