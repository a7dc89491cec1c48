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

  startUpload(upload: FileUpload): void {
    this.db
      .prepare(
        'INSERT INTO file_uploads (correlation_id, device_id, blob_name, sas_token, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(upload.correlationId, upload.deviceId, upload.blobName, upload.sasToken, this.now());
  }

  /** The open upload whose SAS token grants writing this blob, if any. */
  uploadFor(blobName: string, sasToken: string): FileUpload | undefined {
    const row = this.db
      .prepare('SELECT * FROM file_uploads WHERE blob_name = ? AND sas_token = ? AND completed = 0')
      .get(blobName, sasToken) as
      | { correlation_id: string; device_id: string; blob_name: string; sas_token: string }
      | undefined;
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
