/**
 * Where a browser database lives between page loads: one IndexedDB database with a `snapshot` (a whole SQLite
 * file image, as of some journal sequence number) and a `journal` of the transactions committed since, keyed by
 * sequence number. An append costs one small IndexedDB transaction whatever the size of the database; folding the
 * journal into a new snapshot happens rarely and in the background.
 *
 * IndexedDB is used directly (not through idb-keyval) because every append must ask for `durability: 'strict'`:
 * Chromium's default is relaxed, which may lose a committed transaction in a power cut.
 */
import type { SqlStatement } from '../../src/ports.js';

export interface JournalRecord {
  seq: number;
  statements: readonly SqlStatement[];
}

export interface Snapshot {
  /** The SQLite file image (what sql.js's `export()` returns). */
  bytes: Uint8Array;
  /** The last journal record the image includes (0: none). */
  seq: number;
}

export interface StoredDatabase {
  snapshot: Snapshot | undefined;
  /** Records after the snapshot's `seq`, in order. */
  journal: JournalRecord[];
}

const SNAPSHOT = 'snapshot';
const JOURNAL = 'journal';
const SNAPSHOT_KEY = 'main';

export class JournalStore {
  readonly #db: IDBDatabase;

  private constructor(db: IDBDatabase) {
    this.#db = db;
    // Another context deleting or upgrading the database must not wait for this one forever.
    db.onversionchange = () => db.close();
  }

  static open(name: string): Promise<JournalStore> {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(SNAPSHOT);
        request.result.createObjectStore(JOURNAL);
      };
      request.onsuccess = () => resolve(new JournalStore(request.result));
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new DOMException(`IndexedDB ${name} is blocked`, 'InvalidStateError'));
    });
  }

  /** The snapshot and the journal records after it, read in one transaction. */
  load(): Promise<StoredDatabase> {
    const transaction = this.#db.transaction([SNAPSHOT, JOURNAL], 'readonly');
    const snapshot = transaction.objectStore(SNAPSHOT).get(SNAPSHOT_KEY);
    const journal = transaction.objectStore(JOURNAL).getAll();
    return completed(transaction).then(() => {
      const image = snapshot.result as Snapshot | undefined;
      const after = image?.seq ?? 0;
      const records = (journal.result as JournalRecord[]).filter((record) => record.seq > after);
      return { snapshot: image, journal: records.sort((a, b) => a.seq - b.seq) };
    });
  }

  /** Appends records in one transaction; resolves once it completed with the requested durability. */
  append(records: readonly JournalRecord[], durability: 'strict' | 'relaxed'): Promise<void> {
    const transaction = this.#db.transaction(JOURNAL, 'readwrite', { durability });
    const store = transaction.objectStore(JOURNAL);
    for (const record of records) store.put(record, record.seq);
    return completed(transaction);
  }

  /**
   * Stores a new snapshot. Its own transaction, on the snapshot store only, so that appends to the journal never
   * wait for a large snapshot to be written; `load()` skips journal records the snapshot already holds.
   */
  writeSnapshot(snapshot: Snapshot): Promise<void> {
    const transaction = this.#db.transaction(SNAPSHOT, 'readwrite', { durability: 'strict' });
    transaction.objectStore(SNAPSHOT).put(snapshot, SNAPSHOT_KEY);
    return completed(transaction);
  }

  /** Deletes the journal records up to `seq` (those a stored snapshot holds). */
  dropThrough(seq: number): Promise<void> {
    const transaction = this.#db.transaction(JOURNAL, 'readwrite', { durability: 'relaxed' });
    transaction.objectStore(JOURNAL).delete(IDBKeyRange.upperBound(seq));
    return completed(transaction);
  }

  close(): void {
    this.#db.close();
  }
}

function completed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () =>
      reject(transaction.error ?? new DOMException('IndexedDB transaction aborted', 'AbortError'));
  });
}
