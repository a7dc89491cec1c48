/** The messages between the page's `Database` proxy and the database worker. */
import type { SqlStatement, SqlValue } from '../../src/ports.js';

export type DatabaseRequest =
  | { id: number; op: 'open'; name: string; wasmUrl: string | undefined }
  | { id: number; op: 'write'; statements: readonly SqlStatement[]; durability: 'strict' | 'relaxed' }
  | { id: number; op: 'query'; sql: string; params: readonly SqlValue[] | undefined }
  | { id: number; op: 'close' };

/** An error as it crosses to the page: a SpotflowError's code and message, the cause by name and message. */
export interface WireError {
  code: string;
  message: string;
  cause?: { name: string; message: string };
}

export type DatabaseResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };
