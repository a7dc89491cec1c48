/**
 * Moving a database from IndexedDB to the origin private file system (in the database worker), the first time it is
 * opened with `storage: 'opfs'`: the stored file and journal are loaded as IndexedDB's store loads them, the file as
 * it then is becomes the new store's, and only once that store is complete is the IndexedDB database deleted. A kill
 * before that leaves IndexedDB as it was (the next open moves it again); a kill after it leaves an IndexedDB database
 * that the next open deletes.
 */
import type { SqlJsStatic } from 'sql.js';
import { CHUNK_BYTES, deletedByBrowser, type Loaded, load, openStore } from './journal-load.js';
import type { ProblemListener } from './journaled-database.js';
import { OpfsStore } from './opfs-store.js';
import { ReadThroughFile } from './read-through-file.js';
import { SqlEngine } from './sql-engine.js';

/** How long a deletion may wait for other connections to the IndexedDB database to close. */
const DELETE_DEADLINE_MS = 5_000;

/** Whether an IndexedDB database `name` exists (without creating one). */
export async function indexedDbHas(name: string): Promise<boolean> {
  const databases = await indexedDB.databases();
  return databases.some((database) => database.name === name);
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
    await deleteIndexedDb(name).catch(() => {});
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
