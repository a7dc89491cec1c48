/**
 * Opening a stored browser database (in the database worker): the stored chunks assembled into a tracked sql.js file,
 * the journal after them replayed, and how IndexedDB failures become the SDK's errors.
 */
import type { SqlJsStatic } from 'sql.js';
import { isSpotflowError, SpotflowError } from '../../src/errors.js';
import { fromRecords, recordBytes, recordSeq, SqlTexts } from './journal-records.js';
import { JournalStore } from './journal-store.js';
import { PageFile, type TrackedFile } from './page-file.js';
import { SqlEngine } from './sql-engine.js';
import { type ChunkLayout, StoredPagesMissing } from './stored-chunks.js';

/**
 * The unit the file is stored in: 8 SQLite pages, small enough that Chromium keeps it in LevelDB rather than in a
 * blob file of its own (see journal-records.ts).
 */
export const CHUNK_BYTES = 32 * 1024;

export interface Loaded {
  file: TrackedFile;
  engine: SqlEngine;
  lastSeq: number;
  journalStatements: number;
  journalBytes: number;
  fullRewrite: boolean;
  layout: ChunkLayout;
  /** The SQL texts stored, by number. */
  texts: SqlTexts;
}

/**
 * Opens the store; `deleted` says why, when the browser has just deleted what was stored (see `JournalStore`). Chromium
 * fails the first open after it found its store corrupt ("Internal error opening backing store") and deletes the
 * store; the open after that creates it empty, so that one is tried too.
 */
export async function openStore(name: string): Promise<{ store: JournalStore; deleted: string | undefined }> {
  let failedFirst: string | undefined;
  try {
    const store = await JournalStore.open(name);
    return { store, deleted: store.deletedByBrowser };
  } catch (error) {
    if (!(error instanceof DOMException && error.name === 'UnknownError')) {
      throw storageError(error, `Cannot open the IndexedDB database ${name}`);
    }
    failedFirst = error.message;
  }
  try {
    const store = await JournalStore.open(name);
    return { store, deleted: store.deletedByBrowser ?? (store.created ? failedFirst : undefined) };
  } catch (error) {
    throw storageError(error, `Cannot open the IndexedDB database ${name}`);
  }
}

/** The report of a database the browser deleted: what was stored is gone, and the device starts from nothing. */
export function deletedByBrowser(name: string, reason: string): SpotflowError {
  return new SpotflowError(
    'DATABASE_CORRUPT',
    `The browser deleted the IndexedDB database ${name} (it said: ${reason}), as Chromium does when it finds its ` +
      'store corrupt after a crash or power cut: messages and twin updates not sent before are lost, and the device ' +
      'provisions again',
  );
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
  let statements: number;
  const texts = new SqlTexts(stored.texts);
  try {
    statements = engine.replay(fromRecords(stored.journal, texts));
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

export function damaged(name: string, cause: unknown): SpotflowError {
  return new SpotflowError('DATABASE_CORRUPT', `The stored database ${name} is damaged`, { cause });
}

/** IndexedDB failures (quota, a deleted database, private mode) by their DOMException name. */
export function storageError(error: unknown, context: string): SpotflowError {
  if (isSpotflowError(error)) return error;
  const { name: named, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  const name = typeof named === 'string' ? named : 'unknown error';
  // The browser's own words (a storage error names no secret), when it gave some.
  const detail = typeof message === 'string' && message !== '' ? `: ${message.slice(0, 200)}` : '';
  return new SpotflowError('DATABASE_UNAVAILABLE', `${context} (${name}${detail})`, { cause: error });
}
