import type { EmulatorDatabase } from './database.js';

export interface FileUpload {
  correlationId: string;
  deviceId: string;
  blobName: string;
  sasToken: string;
}

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

  /** Stages one block of a block blob (Azure's Put Block). */
  stageBlock(container: string, name: string, blockId: string, content: Buffer): void {
    this.db
      .prepare(
        `INSERT INTO blob_blocks (container, name, block_id, content) VALUES (?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET content = excluded.content`,
      )
      .run(container, name, blockId, content);
  }

  /** Commits staged blocks in the given order as the blob's content (Put Block List); false if one is missing. */
  commitBlocks(container: string, name: string, blockIds: string[]): boolean {
    return this.db.transaction(() => {
      const read = this.db.prepare(
        'SELECT content FROM blob_blocks WHERE container = ? AND name = ? AND block_id = ?',
      );
      const parts: Buffer[] = [];
      for (const id of blockIds) {
        const row = read.get(container, name, id) as { content: Buffer } | undefined;
        if (!row) return false;
        parts.push(row.content);
      }
      this.put(container, name, Buffer.concat(parts));
      this.db.prepare('DELETE FROM blob_blocks WHERE container = ? AND name = ?').run(container, name);
      return true;
    })();
  }

  startUpload(upload: FileUpload): void {
    this.db
      .prepare(
        'INSERT INTO file_uploads (correlation_id, device_id, blob_name, sas_token, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(upload.correlationId, upload.deviceId, upload.blobName, upload.sasToken, this.now());
  }

  /** The open upload of this blob whose SAS token carries `signature`, if any. */
  uploadFor(blobName: string, signature: string): FileUpload | undefined {
    const rows = this.db
      .prepare('SELECT * FROM file_uploads WHERE blob_name = ? AND completed = 0')
      .all(blobName) as { correlation_id: string; device_id: string; blob_name: string; sas_token: string }[];
    const row = rows.find((r) => new URLSearchParams(r.sas_token).get('sig') === signature);
    return (
      row && {
        correlationId: row.correlation_id,
        deviceId: row.device_id,
        blobName: row.blob_name,
        sasToken: row.sas_token,
      }
    );
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
