/** The requests from the page's `Database` proxy to the database worker (answers: see worker-rpc.ts). */
import type { SqlStatement, SqlValue } from '../../src/ports.js';

export type DatabaseRequest =
  | {
      id: number;
      op: 'open';
      name: string;
      wasmUrl: string | undefined;
      /** Undefined: the worker picks (the origin private file system where it has sync access handles). */
      storage: 'indexeddb' | 'opfs' | undefined;
    }
  | { id: number; op: 'write'; statements: readonly SqlStatement[]; durability: 'strict' | 'relaxed' }
  | { id: number; op: 'query'; sql: string; params: readonly SqlValue[] | undefined }
  | { id: number; op: 'close' };
