/**
 * The part of Bun's built-in `bun:sqlite` this package uses, declared here rather than through bun-types, which
 * would bring Bun's globals into every file type-checked beside Node's (and conflict with @types/node).
 */
declare module 'bun:sqlite' {
  type Binding = string | number | bigint | Uint8Array | null;

  export class Statement {
    run(...params: Binding[]): { changes: number; lastInsertRowid: number | bigint };
    all(...params: Binding[]): Record<string, Binding>[];
    finalize(): void;
  }

  export class Database {
    constructor(filename: string, options?: { readwrite?: boolean; create?: boolean; strict?: boolean });
    readonly inTransaction: boolean;
    exec(sql: string): void;
    prepare(sql: string): Statement;
    close(throwOnError?: boolean): void;
  }

  export class SQLiteError extends Error {
    /** The extended result code, e.g. 5 (SQLITE_BUSY) or 266 (SQLITE_IOERR_READ). */
    errno: number;
    /** Its name, e.g. `SQLITE_BUSY`, where Bun knows it. */
    code?: string;
  }
}
