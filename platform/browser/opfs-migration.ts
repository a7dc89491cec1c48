/**
 * Moving a database from IndexedDB to the origin private file system (in the database worker), the first time it is
 * opened with `storage: 'opfs'`: the stored file and journal are loaded as IndexedDB's store loads them, the file as
 * it then is becomes the new store's, and only once that store is complete is the IndexedDB database deleted. A kill
 * before that leaves IndexedDB as it was (the next open moves it again); a kill after it leaves an IndexedDB database
 * that the next open deletes, which it knows by a marker file written beside the store before the deletion and
 * removed after it. An IndexedDB database found beside a store with no marker is someone else's (a client started
 * with `storage: 'indexeddb'` after the move): it is left as it is, and reported.
 */
import type { SqlJsStatic } from 'sql.js';
import { SpotflowError } from '../../src/errors.js';
import { CHUNK_BYTES, deletedByBrowser, type Loaded, load, openStore } from './journal-load.js';
import type { ProblemListener } from './journaled-database.js';
import { storeDirectory } from './opfs-files.js';
import { OpfsStore } from './opfs-store.js';
import { ReadThroughFile } from './read-through-file.js';
import { SqlEngine } from './sql-engine.js';

/** How long a deletion may wait for other connections to the IndexedDB database to close. */
const DELETE_DEADLINE_MS = 5_000;

/** Marks an IndexedDB database as moved into the store beside it: the next open may delete it. */
const MOVED_MARKER = 'moved-from-indexeddb';

/**
 * Whether an IndexedDB database `name` exists (without creating one). Rejects when the browser cannot say (then
 * nothing is moved or created: an empty store would hide a database the next open could not tell apart).
 */
export async function indexedDbHas(name: string): Promise<boolean> {
  // Firefox before 126 cannot list databases: taken as none (one kept with storage: 'indexeddb' is not moved).
  if (typeof indexedDB.databases !== 'function') return false;
  const databases = await indexedDB.databases();
  return databases.some((database) => database.name === name);
}

/**
 * At the open of an existing store: deletes the IndexedDB database a move left behind (marked), or reports one that
 * another client wrote after the move (left as it is).
 */
export async function settleIndexedDbBeside(name: string, onProblem: ProblemListener): Promise<void> {
  const directory = await storeDirectory(name);
  const marked = await directory.getFileHandle(MOVED_MARKER).then(
    () => true,
    () => false,
  );
  if (!(await indexedDbHas(name).catch(() => false))) {
    if (marked) await directory.removeEntry(MOVED_MARKER).catch(() => {});
    return;
  }
  if (marked) {
    await deleteIndexedDb(name);
    await directory.removeEntry(MOVED_MARKER).catch(() => {});
    return;
  }
  onProblem(
    new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `An IndexedDB database ${name} exists beside the one in the origin private file system (a client started ` +
        "with storage: 'indexeddb' wrote it); this client uses the origin private file system's and leaves it as it is",
    ),
  );
}

/**
 * Loads the IndexedDB database `name` and stores its file as a new OPFS store; resolves with the loaded database
 * and the store. The IndexedDB database is deleted afterwards (a failure to delete is left for the next open).
 */
export async function moveFromIndexedDb(
  sqlJs: Promise<SqlJsStatic>,
  name: string,
  onProblem: ProblemListener,
): Promise<{ loaded: Loaded; store: OpfsStore }> {
  const { store: idb, deleted } = await openStore(name);
  if (deleted !== undefined) onProblem(deletedByBrowser(name, deleted));
  let loaded: Loaded;
  try {
    loaded = await load(sqlJs, idb, name);
  } finally {
    idb.close();
  }
  let store: OpfsStore;
  try {
    const fileBytes = loaded.engine.fileBytes();
    loaded.file.markAllChanged();
    const image = new Uint8Array(fileBytes);
    for (const [chunk, bytes] of loaded.file.takeChanged(fileBytes)) image.set(bytes, chunk * CHUNK_BYTES);
    store = await OpfsStore.create(name, image, loaded.lastSeq);
  } catch (error) {
    loaded.engine.close();
    loaded.file.close();
    throw error;
  }
  // From here on the file is read through from the new store: the copy in memory goes.
  loaded.engine.close();
  loaded.file.close();
  let file: ReadThroughFile | undefined;
  try {
    file = ReadThroughFile.open(await sqlJs, store, CHUNK_BYTES);
    const engine = new SqlEngine(file.db);
    // Marked first, so that a kill between the two leaves a deletion the next open finishes (never one it refuses).
    const directory = await storeDirectory(name);
    await directory.getFileHandle(MOVED_MARKER, { create: true });
    await deleteIndexedDb(name)
      .then(() => directory.removeEntry(MOVED_MARKER))
      .catch(() => {});
    return {
      loaded: {
        ...loaded,
        file,
        engine,
        journalStatements: 0,
        journalBytes: store.journalBytes,
        fullRewrite: false,
      },
      store,
    };
  } catch (error) {
    file?.close();
    store.close();
    throw error;
  }
}

/** Deletes the IndexedDB database `name`; rejects if that cannot be done within the deadline. */
export function deleteIndexedDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    const deadline = setTimeout(
      () => reject(new DOMException(`IndexedDB ${name} was not deleted in time`, 'TimeoutError')),
      DELETE_DEADLINE_MS,
    );
    request.onsuccess = () => {
      clearTimeout(deadline);
      resolve();
    };
    request.onerror = () => {
      clearTimeout(deadline);
      reject(request.error);
    };
  });
}
