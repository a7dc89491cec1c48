/**
 * Opening a database kept in the origin private file system (in the database worker): the stored file read through
 * (read-through-file.ts: SQLite reads it page by page, nothing of it loaded), the groups journaled after it replayed, and the store behind a `Persistence` (see opfs-store.ts).
 * A database with no store there yet is moved from IndexedDB if it is kept there (opfs-migration.ts), or starts empty.
 */
import type { SqlJsStatic } from 'sql.js';
import { SpotflowError } from '../../src/errors.js';
import { LogDamaged } from './frame-log.js';
import { CHUNK_BYTES, damaged, type Loaded, storageError } from './journal-load.js';
import type { ProblemListener } from './journaled-database.js';
import { AsynchronousHandles, opfsAvailable } from './opfs-files.js';
import { indexedDbHas, moveFromIndexedDb, settleIndexedDbBeside } from './opfs-migration.js';
import { OpfsStore } from './opfs-store.js';
import { OpfsPersistence } from './persistence.js';
import { ReadThroughFile } from './read-through-file.js';
import { SqlEngine } from './sql-engine.js';

export async function loadOpfs(
  sqlJs: Promise<SqlJsStatic>,
  name: string,
  onProblem: ProblemListener,
): Promise<{ persistence: OpfsPersistence; loaded: Omit<Loaded, 'layout' | 'texts'> }> {
  if (!opfsAvailable()) {
    throw new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `Cannot keep the database ${name} in the origin private file system: this browser has no sync access handles ` +
        "in workers (use storage: 'indexeddb')",
    );
  }
  let opened: Awaited<ReturnType<typeof OpfsStore.open>>;
  try {
    opened = await OpfsStore.open(name);
  } catch (error) {
    throw opfsError(name, error);
  }
  if (opened === undefined) {
    let inIndexedDb: boolean;
    try {
      inIndexedDb = await indexedDbHas(name);
    } catch (error) {
      // The browser cannot say whether there is an IndexedDB database to move: fail rather than start empty.
      throw opfsError(name, error);
    }
    const first = await (inIndexedDb
      ? moveFromIndexedDb(sqlJs, name, onProblem)
      : createEmpty(sqlJs, name)
    ).catch((error: unknown) => {
      throw opfsError(name, error);
    });
    return { persistence: new OpfsPersistence(first.store), loaded: first.loaded };
  }
  const { store } = opened;
  // An IndexedDB database beside the store: what a move left behind (deleted), or another client's (reported).
  await settleIndexedDbBeside(name, onProblem).catch(() => {});
  const { baseSeq, groups } = opened.loaded;
  let file: ReadThroughFile | undefined;
  let engine: SqlEngine | undefined;
  try {
    file = ReadThroughFile.open(await sqlJs, store, CHUNK_BYTES);
    engine = new SqlEngine(file.db);
    const statements = engine.replay(groups.map((group) => group.statements));
    return {
      persistence: new OpfsPersistence(store),
      loaded: {
        file,
        engine,
        lastSeq: groups.at(-1)?.seq ?? baseSeq,
        journalStatements: statements,
        journalBytes: store.journalBytes,
        fullRewrite: false,
      },
    };
  } catch (error) {
    engine?.close();
    file?.close();
    store.close();
    throw damaged(name, error);
  }
}

/** A new database: an empty store, and an empty file. */
async function createEmpty(
  sqlJs: Promise<SqlJsStatic>,
  name: string,
): Promise<{ loaded: Omit<Loaded, 'layout' | 'texts'>; store: OpfsStore }> {
  const store = await OpfsStore.create(name, new Uint8Array(0), 0);
  const file = ReadThroughFile.open(await sqlJs, store, CHUNK_BYTES);
  const engine = new SqlEngine(file.db);
  return {
    store,
    loaded: {
      file,
      engine,
      lastSeq: 0,
      journalStatements: 0,
      journalBytes: store.journalBytes,
      fullRewrite: false,
    },
  };
}

function opfsError(name: string, error: unknown): SpotflowError {
  if (error instanceof LogDamaged || error instanceof RangeError) return damaged(name, error);
  if (error instanceof AsynchronousHandles) {
    return new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `Cannot keep the database ${name} in the origin private file system: ${error.message}; use storage: 'indexeddb'`,
      { cause: error },
    );
  }
  return storageError(error, `Cannot open the database ${name} in the origin private file system`);
}
