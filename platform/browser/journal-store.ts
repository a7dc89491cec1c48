/**
 * Where a browser database lives between page loads: one IndexedDB database holding the SQLite file in `pages`
 * (fixed-size chunks of the file keyed by chunk number, with `meta` saying how large the file is and which journal
 * record it includes) and a `journal` of the transactions committed since, keyed by sequence number. An append
 * costs one small IndexedDB transaction; a fold stores only the chunks that changed since the last one.
 *
 * IndexedDB is used directly (not through idb-keyval) because every append must ask for `durability: 'strict'`:
 * Chromium's default is relaxed, which may lose a committed transaction in a power cut.
 *
 * Version 1 kept the whole file as one image in `snapshot`; it is still read, and the first fold after an upgrade
 * replaces it with pages.
 */
import type { JournalRecord } from './journal-records.js';

/** What the stored pages are: the file's size, the chunk size they were cut at, the last journal record included. */
export interface PagesMeta {
  seq: number;
  fileBytes: number;
  chunkBytes: number;
}

export interface StoredDatabase {
  /** The SQLite file assembled from the stored pages (or the version 1 image); undefined when nothing is stored. */
  image: Uint8Array | undefined;
  /** The chunk size the image was stored at, undefined for a version 1 image. */
  chunkBytes: number | undefined;
  /** The last journal record the image includes (0: none). */
  seq: number;
  /** Records after `seq`, in order. */
  journal: JournalRecord[];
}

const JOURNAL = 'journal';
const PAGES = 'pages';
const META = 'meta';
/** Version 1's whole-file image. */
const SNAPSHOT = 'snapshot';
const MAIN = 'main';
/** Chunks read per request at load: few round trips, and never the whole file held twice. */
const LOAD_BATCH = 64;

interface LegacySnapshot {
  bytes: Uint8Array;
  seq: number;
}

export class JournalStore {
  readonly #db: IDBDatabase;
  #closedByOthers = false;
  /** Called once when the connection is closed from outside. */
  onClosedByOthers: (() => void) | undefined;

  private constructor(db: IDBDatabase) {
    this.#db = db;
    // Another context deleting or upgrading the database must not wait for this one forever.
    db.onversionchange = () => {
      db.close();
      this.#lost();
    };
    // Chromium closes the connection by itself when the database is deleted from outside (site data cleared).
    db.onclose = () => this.#lost();
  }

  static open(name: string): Promise<JournalStore> {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 2);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const store of [SNAPSHOT, JOURNAL, PAGES, META]) {
          if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
        }
      };
      request.onsuccess = () => resolve(new JournalStore(request.result));
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new DOMException(`IndexedDB ${name} is blocked`, 'InvalidStateError'));
    });
  }

  #lost(): void {
    if (this.#closedByOthers) return;
    this.#closedByOthers = true;
    this.onClosedByOthers?.();
  }

  /** Whether this connection was closed from outside (the database deleted or upgraded by another context). */
  get closedByOthers(): boolean {
    return this.#closedByOthers;
  }

  /**
   * The stored file and the journal records after it, read in one transaction. Chunks are copied into the image
   * a batch at a time, so a large database is not held twice.
   */
  load(): Promise<StoredDatabase> {
    return settled(() => this.#load());
  }

  #load(): Promise<StoredDatabase> {
    const transaction = this.#db.transaction([META, PAGES, SNAPSHOT, JOURNAL], 'readonly');
    const metaRequest = transaction.objectStore(META).get(MAIN);
    const legacyRequest = transaction.objectStore(SNAPSHOT).get(MAIN);
    const journalRequest = transaction.objectStore(JOURNAL).getAll();
    let image: Uint8Array | undefined;
    let incomplete = false;
    metaRequest.onsuccess = () => {
      const meta = metaRequest.result as PagesMeta | undefined;
      if (meta === undefined) return;
      const assembled = new Uint8Array(meta.fileBytes);
      image = assembled;
      const pages = transaction.objectStore(PAGES);
      const readBatch = (first: number) => {
        const request = pages.getAll(IDBKeyRange.bound(first, first + LOAD_BATCH - 1));
        request.onsuccess = () => {
          const chunks = request.result as Uint8Array[];
          if (chunks.length !== Math.min(LOAD_BATCH, Math.ceil(meta.fileBytes / meta.chunkBytes) - first)) {
            incomplete = true;
          }
          for (const [index, chunk] of chunks.entries()) {
            // Keys are dense (0 up to the last chunk): the batch's nth value is chunk first + n.
            const offset = (first + index) * meta.chunkBytes;
            if (offset < meta.fileBytes) assembled.set(chunk.subarray(0, meta.fileBytes - offset), offset);
          }
          if ((first + LOAD_BATCH) * meta.chunkBytes < meta.fileBytes) readBatch(first + LOAD_BATCH);
        };
      };
      readBatch(0);
    };
    return completed(transaction).then(() => {
      if (incomplete) throw new StoredPagesMissing();
      const meta = metaRequest.result as PagesMeta | undefined;
      const legacy = legacyRequest.result as LegacySnapshot | undefined;
      const seq = meta?.seq ?? legacy?.seq ?? 0;
      const records = (journalRequest.result as JournalRecord[]).filter((record) => record.seq > seq);
      return {
        image: meta ? image : legacy?.bytes,
        chunkBytes: meta?.chunkBytes,
        seq,
        journal: records.sort((a, b) => a.seq - b.seq),
      };
    });
  }

  /**
   * The last journal position stored (in the pages or the journal), or undefined when nothing at all is stored (a
   * new database, or one deleted and created again).
   */
  lastStored(): Promise<number | undefined> {
    return settled(() => {
      const transaction = this.#db.transaction([META, SNAPSHOT, JOURNAL], 'readonly');
      const meta = transaction.objectStore(META).get(MAIN);
      const legacy = transaction.objectStore(SNAPSHOT).get(MAIN);
      const last = transaction.objectStore(JOURNAL).openKeyCursor(null, 'prev');
      return completed(transaction).then(() => {
        const seqs = [
          (meta.result as PagesMeta | undefined)?.seq,
          (legacy.result as LegacySnapshot | undefined)?.seq,
          last.result === null ? undefined : Number(last.result.key),
        ].filter((seq) => seq !== undefined);
        return seqs.length === 0 ? undefined : Math.max(...seqs);
      });
    });
  }

  /** Appends records in one transaction; resolves once it completed with the requested durability. */
  append(records: readonly JournalRecord[], durability: 'strict' | 'relaxed'): Promise<void> {
    return settled(() => {
      const transaction = this.#db.transaction(JOURNAL, 'readwrite', { durability });
      const store = transaction.objectStore(JOURNAL);
      for (const record of records) store.put(record, record.seq);
      return completed(transaction);
    });
  }

  /**
   * Stores changed chunks and the new `meta` in one transaction: the stored file moves from one consistent state
   * to the next, or stays. Chunks past the file's end are deleted. `replaceAll` first clears every stored chunk
   * and the version 1 image (the chunks given are then the whole file). Its own transaction, apart from the
   * journal, so that appends never wait for a fold; `load()` skips journal records the pages already hold.
   */
  writePages(meta: PagesMeta, chunks: ReadonlyMap<number, Uint8Array>, replaceAll: boolean): Promise<void> {
    return settled(() => {
      const scope = replaceAll ? [PAGES, META, SNAPSHOT] : [PAGES, META];
      const transaction = this.#db.transaction(scope, 'readwrite', { durability: 'strict' });
      const pages = transaction.objectStore(PAGES);
      if (replaceAll) {
        pages.clear();
        transaction.objectStore(SNAPSHOT).clear();
      } else {
        pages.delete(IDBKeyRange.lowerBound(Math.ceil(meta.fileBytes / meta.chunkBytes)));
      }
      for (const [chunk, bytes] of chunks) pages.put(bytes, chunk);
      transaction.objectStore(META).put(meta, MAIN);
      return completed(transaction);
    });
  }

  /** Deletes the journal records up to `seq` (those the stored pages hold). */
  dropThrough(seq: number): Promise<void> {
    return settled(() => {
      const transaction = this.#db.transaction(JOURNAL, 'readwrite', { durability: 'relaxed' });
      transaction.objectStore(JOURNAL).delete(IDBKeyRange.upperBound(seq));
      return completed(transaction);
    });
  }

  close(): void {
    this.#db.close();
  }
}

/** The stored chunks do not cover the file `meta` describes: what is stored is damaged. */
export class StoredPagesMissing extends Error {
  constructor() {
    super('Stored pages are missing');
    this.name = 'StoredPagesMissing';
  }
}

/** A transaction on a closed connection throws at once: that too becomes a rejection. */
function settled<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

function completed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    // A request's error reaches the transaction first (bubbling), before `transaction.error` is set: an abort
    // reports AbortError on every request still queued.
    transaction.onerror = (event) =>
      reject(transaction.error ?? (event.target as IDBRequest | null)?.error ?? aborted());
    transaction.onabort = () => reject(transaction.error ?? aborted());
  });
}

function aborted(): DOMException {
  return new DOMException('IndexedDB transaction aborted', 'AbortError');
}
