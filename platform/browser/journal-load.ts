/**
 * Opening a stored browser database (in the database worker): the stored chunks assembled into a tracked sql.js file,
 * the journal after them replayed, and how IndexedDB failures become the SDK's errors.
 */
import type { SqlJsStatic } from 'sql.js';
import { isSpotflowError, SpotflowError } from '../../src/errors.js';
import { fromRecords, recordBytes, recordSeq, SqlTexts } from './journal-records.js';
import { JournalStore } from './journal-store.js';
import { PageFile } from './page-file.js';
import { SqlEngine } from './sql-engine.js';
import { type ChunkLayout, StoredPagesMissing } from './stored-chunks.js';

/**
 * The unit the file is stored in: 8 SQLite pages, small enough that Chromium keeps it in LevelDB rather than in a
 * blob file of its own (see journal-records.ts).
 */
export const CHUNK_BYTES = 32 * 1024;

export interface Loaded {
  file: PageFile;
  engine: SqlEngine;
  lastSeq: number;
  journalStatements: number;
  journalBytes: number;
  fullRewrite: boolean;
  layout: ChunkLayout;
  /** The SQL texts stored, by number. */
  texts: SqlTexts;
}

export async function openStore(name: string): Promise<JournalStore> {
  try {
    return await JournalStore.open(name);
  } catch (error) {
    throw storageError(error, `Cannot open the IndexedDB database ${name}`);
  }
}

/** The stored file with the journal replayed on it (read while sql.js may still be loading). */
export async function load(sqlJs: Promise<SqlJsStatic>, store: JournalStore, name: string): Promise<Loaded> {
  const stored = await store.load().catch((error: unknown) => {
    if (error instanceof StoredPagesMissing) throw damaged(name, error);
    throw storageError(error, `Cannot read the IndexedDB database ${name}`);
  });
  const sql = await sqlJs;
  let file: PageFile;
  let engine: SqlEngine;
  try {
    // The image becomes the file's storage: the worker holds the database once.
    file = PageFile.open(sql, stored.image ?? new Uint8Array(0), CHUNK_BYTES);
  } catch (error) {
    throw damaged(name, error);
  }
  try {
    engine = new SqlEngine(file.db);
  } catch (error) {
    file.close();
    throw damaged(name, error);
  }
  let statements = 0;
  const texts = new SqlTexts(stored.texts);
  try {
    for (const group of fromRecords(stored.journal, texts)) {
      engine.write(group);
      statements += group.length;
    }
  } catch (error) {
    engine.close();
    file.close();
    throw new SpotflowError('DATABASE_CORRUPT', `The journal of ${name} does not replay`, { cause: error });
  }
  return {
    file,
    engine,
    lastSeq: stored.journal.length > 0 ? recordSeq(stored.journal.at(-1)!) : stored.seq,
    journalStatements: statements,
    journalBytes: stored.journal.reduce((sum, record) => sum + recordBytes(record), 0),
    // Nothing stored yet, a version 1 image, or pages cut at another size: store every chunk at the next fold.
    // Version 2's numbered chunks too: a fold stores generations.
    fullRewrite: stored.image === undefined || stored.chunkBytes !== CHUNK_BYTES || stored.numbered,
    layout: stored.layout,
    texts,
  };
}

function damaged(name: string, cause: unknown): SpotflowError {
  return new SpotflowError('DATABASE_CORRUPT', `The stored database ${name} is damaged`, { cause });
}

/** IndexedDB failures (quota, a deleted database, private mode) by their DOMException name. */
export function storageError(error: unknown, context: string): SpotflowError {
  if (isSpotflowError(error)) return error;
  const named = (error as { name?: unknown } | null)?.name;
  const name = typeof named === 'string' ? named : 'unknown error';
  return new SpotflowError('DATABASE_UNAVAILABLE', `${context} (${name})`, { cause: error });
}
