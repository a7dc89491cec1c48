/**
 * The part of the built-in `node:sqlite` (Node 22.5+, Deno 2) this package uses. Declared here: @types/node 20,
 * which this package type-checks against, predates it.
 */
declare module 'node:sqlite' {
  type Binding = string | number | bigint | Uint8Array | null;

  export class StatementSync {
    run(...params: Binding[]): { changes: number | bigint; lastInsertRowid: number | bigint };
    all(...params: Binding[]): Record<string, Binding>[];
    setReadBigInts(enabled: boolean): void;
  }

  export class DatabaseSync {
    constructor(path: string, options?: { open?: boolean; timeout?: number });
    /** Node 22.16+ and Deno; absent before. */
    readonly isTransaction?: boolean;
    exec(sql: string): void;
    prepare(sql: string): StatementSync;
    close(): void;
  }
}
