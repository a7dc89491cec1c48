import { timingSafeEqual } from 'node:crypto';
import type { EmulatorDatabase } from './database.js';

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

/** The blob store behind file upload, and the upload sessions the hub hands out. */
export class BlobStore {
  constructor(
    private readonly db: EmulatorDatabase,
    private readonly now: () => number,
  ) {}

  put(container: string, name: string, content: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO blobs (container, name, content, uploaded_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (container, name) DO UPDATE SET content = excluded.content, uploaded_at = excluded.uploaded_at`,
      )
      .run(container, name, content, this.now());
  }

  get(container: string, name: string): Buffer | undefined {
    const row = this.db
      .prepare('SELECT content FROM blobs WHERE container = ? AND name = ?')
      .get(container, name) as { content: Buffer } | undefined;
    return row?.content;
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
    const row = this.db.prepare(`${fileSelect} AND b.name = ?`).get(container, name) as FileRow | undefined;
    return row && toStoredFile(row);
  }

  /**
   * What the blob's staged blocks hold, leaving out `exceptBlockId` (a block staged again replaces itself):
   * their number and total size.
   */
  staged(container: string, name: string, exceptBlockId: string): { blocks: number; bytes: number } {
    return this.db
      .prepare(
        `SELECT COUNT(*) AS blocks, COALESCE(SUM(length(content)), 0) AS bytes FROM blob_blocks
         WHERE container = ? AND name = ? AND block_id <> ?`,
      )
      .get(container, name, exceptBlockId) as { blocks: number; bytes: number };
  }

  /** Stages one block of a block blob (Azure's Put Block). */
  stageBlock(container: string, name: string, blockId: string, content: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO blob_blocks (container, name, block_id, content) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET content = excluded.content`,
      )
      .run(container, name, blockId, content);
  }

  /**
   * Commits staged blocks in the given order as the blob's content (Put Block List). Refuses a list naming a block
   * that was never staged, or one whose blocks (a block may be listed more than once) add up to more than
   * `maxBlobBytes`.
   */
  commitBlocks(
    container: string,
    name: string,
    blockIds: string[],
  ): 'committed' | 'unknown-block' | 'too-large' {
    return this.db.transaction(() => {
      const size = this.db.prepare(
        'SELECT length(content) AS bytes FROM blob_blocks WHERE container = ? AND name = ? AND block_id = ?',
      );
      let total = 0;
      for (const id of blockIds) {
        const row = size.get(container, name, id) as { bytes: number } | undefined;
        if (!row) return 'unknown-block' as const;
        total += row.bytes;
        if (total > maxBlobBytes) return 'too-large' as const;
      }
      const read = this.db.prepare(
        'SELECT content FROM blob_blocks WHERE container = ? AND name = ? AND block_id = ?',
      );
      const parts = blockIds.map((id) => (read.get(container, name, id) as { content: Buffer }).content);
      this.put(container, name, Buffer.concat(parts));
      this.db.prepare('DELETE FROM blob_blocks WHERE container = ? AND name = ?').run(container, name);
      return 'committed' as const;
    })();
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
const fileSelect = `SELECT b.name, length(b.content) AS size, b.uploaded_at,
    (SELECT completed FROM file_uploads f WHERE f.blob_name = b.name
       ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1) AS completed,
    (SELECT is_success FROM file_uploads f WHERE f.blob_name = b.name
       ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1) AS is_success
  FROM blobs b WHERE b.container = ?`;

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
