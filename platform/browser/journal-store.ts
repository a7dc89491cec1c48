/**
 * Where a browser database lives between page loads: one IndexedDB database holding the SQLite file in `pages`
 * (fixed-size chunks of the file keyed by chunk number and the fold that wrote them, with `meta` saying how large the
 * file is, which fold's chunks make it and which journal record it includes) and a `journal` of the transactions
 * committed since, keyed by sequence number. An append costs one small IndexedDB transaction; a fold stores only
 * the chunks that changed since the last one, a few per transaction, then switches `meta` (stored-chunks.ts).
 *
 * IndexedDB is used directly (not through idb-keyval) because every append must ask for `durability: 'strict'`:
 * Chromium's default is relaxed, which may lose a committed transaction in a power cut.
 *
 * Version 1 kept the whole file as one image in `snapshot`, version 2 its chunks under bare numbers; both are still
 * read, and the first fold after an upgrade stores every chunk the current way.
 */
import { type JournalRecord, recordSeq } from './journal-records.js';
import { ChunkAssembly, type ChunkLayout, type PageKey } from './stored-chunks.js';

/** What the stored pages are: the file's size, the chunk size they were cut at, the last journal record included. */
export interface PagesMeta {
  seq: number;
  fileBytes: number;
  chunkBytes: number;
  /** The fold whose chunks make the file (see stored-chunks.ts); absent in version 2, whose chunks are numbered. */
  generation?: number;
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
  /** Which stored chunks make the file, and what is left to delete. */
  layout: ChunkLayout;
  /** The chunks are version 2's, keyed by bare numbers. */
  numbered: boolean;
  /** The SQL texts records name by number (see journal-records.ts). */
  texts: Map<number, string>;
}

const JOURNAL = 'journal';
const PAGES = 'pages';
const META = 'meta';
/** Version 1's whole-file image. */
const SNAPSHOT = 'snapshot';
const MAIN = 'main';
/** `meta` keys of the SQL texts records name by number: `sql:<number>`. */
const TEXT_PREFIX = 'sql:';
/** An open not settled by then is given up (see `JournalStore.open`); opens here take well under 2 s. */
const OPEN_DEADLINE_MS = 5_000;

interface LegacySnapshot {
  bytes: Uint8Array;
  seq: number;
}

export class JournalStore {
  readonly #db: IDBDatabase;
  #closedByOthers = false;
  #closedByUs = false;
  /** Called once when the connection is closed from outside. */
  onClosedByOthers: (() => void) | undefined;
  /**
   * Set when this open created the database and the browser said that it had just deleted the stored one (Chromium's
   * `dataLoss: 'total'`, after it found its store corrupt): why, as the browser put it.
   */
  readonly deletedByBrowser: string | undefined;
  /** Whether this open created the database (none was stored under its name). */
  readonly created: boolean;

  private constructor(db: IDBDatabase, opened: { created: boolean; deletedByBrowser: string | undefined }) {
    this.#db = db;
    this.created = opened.created;
    this.deletedByBrowser = opened.deletedByBrowser;
    // Another context deleting or upgrading the database must not wait for this one forever.
    db.onversionchange = () => {
      db.close();
      this.#lost();
    };
    // Chromium closes the connection by itself when the database is deleted from outside (site data cleared).
    db.onclose = () => this.#lost();
  }

  /**
   * Opens (and creates or upgrades) the database. Settles within `deadlineMs`: after a storage failure Chromium may
   * leave an open request pending for good (no success, error or blocked event). An open stores nothing of ours, so
   * giving up on it loses no write; should it still succeed or upgrade later, that connection is closed at once and
   * the upgrade aborted, so nothing is left holding the database.
   */
  static open(name: string, deadlineMs = OPEN_DEADLINE_MS): Promise<JournalStore> {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 2);
      let settled = false;
      let deletedByBrowser: string | undefined;
      let created = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(deadline);
        return true;
      };
      const deadline = setTimeout(() => {
        if (settle()) {
          reject(new DOMException(`IndexedDB ${name} did not open within ${deadlineMs} ms`, 'TimeoutError'));
        }
      }, deadlineMs);
      request.onupgradeneeded = (event) => {
        if (settled) {
          request.transaction?.abort();
          return;
        }
        created = event.oldVersion === 0;
        deletedByBrowser = browserDataLoss(event);
        const db = request.result;
        for (const store of [SNAPSHOT, JOURNAL, PAGES, META]) {
          if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
        }
      };
      request.onsuccess = () => {
        if (settle()) resolve(new JournalStore(request.result, { created, deletedByBrowser }));
        else request.result.close();
      };
      request.onerror = () => {
        if (settle()) reject(request.error);
      };
      request.onblocked = () => {
        if (settle()) reject(new DOMException(`IndexedDB ${name} is blocked`, 'InvalidStateError'));
      };
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

  /** The stored file and the journal records after it, read in one transaction. */
  load(): Promise<StoredDatabase> {
    return this.#settled(() => this.#load());
  }

  #load(): Promise<StoredDatabase> {
    const transaction = this.#db.transaction([META, PAGES, SNAPSHOT, JOURNAL], 'readonly');
    const metaRequest = transaction.objectStore(META).get(MAIN);
    const journalRequest = transaction.objectStore(JOURNAL).getAll();
    const textsRequest = transaction
      .objectStore(META)
      .getAll(IDBKeyRange.bound(TEXT_PREFIX, `${TEXT_PREFIX}\uffff`));
    let assembly: ChunkAssembly | undefined;
    let legacy: LegacySnapshot | undefined;
    metaRequest.onsuccess = () => {
      const meta = metaRequest.result as PagesMeta | undefined;
      const chunks = new ChunkAssembly(meta);
      assembly = chunks;
      const pages = transaction.objectStore(PAGES);
      const snapshot = transaction.objectStore(SNAPSHOT);
      // Version 1's image: the file when there is no `meta`; otherwise only whether it is still there to delete.
      const legacyRequest = meta ? snapshot.count(MAIN) : snapshot.get(MAIN);
      legacyRequest.onsuccess = () => {
        if (!meta) legacy = legacyRequest.result as LegacySnapshot | undefined;
      };
      // The keys alone first (a few bytes each): they say which version of each chunk the file holds.
      const keys = pages.getAllKeys();
      keys.onsuccess = () => {
        const legacyStored = meta ? legacyRequest.result !== 0 : legacyRequest.result !== undefined;
        chunks.setKeys(keys.result as (PageKey | number)[], legacyStored);
        if (!meta) return;
        // Each chunk is copied into the image as it arrives, so the file is not held twice.
        for (const [key, chunk] of chunks.reads()) {
          const request = pages.get(key);
          request.onsuccess = () => chunks.add(chunk, request.result as Uint8Array | undefined);
        }
      };
    };
    return completed(transaction).then(() => {
      if (!assembly) throw new Error('IndexedDB completed a transaction before its requests');
      const image = assembly.finish();
      const meta = metaRequest.result as PagesMeta | undefined;
      const seq = meta?.seq ?? legacy?.seq ?? 0;
      const all = journalRequest.result as JournalRecord[];
      const records = all.filter((record) => recordSeq(record) > seq);
      return {
        image: meta ? image : legacy?.bytes,
        chunkBytes: meta?.chunkBytes,
        seq,
        journal: records.sort((a, b) => recordSeq(a) - recordSeq(b)),
        layout: assembly.layout(),
        numbered: assembly.numbered,
        texts: new Map((textsRequest.result as [number, string][]).map(([number, text]) => [number, text])),
      };
    });
  }

  /**
   * The last journal position stored (in the pages or the journal), or undefined when nothing at all is stored (a
   * new database, or one deleted and created again).
   */
  lastStored(): Promise<number | undefined> {
    return this.#settled(() => {
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

  /**
   * Appends records in one transaction, with the SQL texts they name that are not stored yet (`texts`: number and
   * text); resolves once it completed with the requested durability.
   */
  append(
    records: readonly JournalRecord[],
    durability: 'strict' | 'relaxed',
    texts: readonly [number, string][] = [],
  ): Promise<void> {
    return this.#settled(() => {
      const scope = texts.length > 0 ? [JOURNAL, META] : [JOURNAL];
      const transaction = this.#db.transaction(scope, 'readwrite', { durability });
      const store = transaction.objectStore(JOURNAL);
      for (const [number, text] of texts)
        transaction.objectStore(META).put([number, text], `${TEXT_PREFIX}${number}`);
      for (const record of records) store.put(record, recordSeq(record));
      return completed(transaction);
    });
  }

  /** Stores chunks of a fold. Relaxed: `putMeta`'s strict commit makes them durable with it (one log, in order). */
  writeChunks(chunks: readonly (readonly [PageKey, Uint8Array])[]): Promise<void> {
    return this.#write(PAGES, 'relaxed', (store) => {
      for (const [key, bytes] of chunks) store.put(bytes, key);
    });
  }

  /** Deletes stored chunk versions (`[generation, chunk]`, or version 2's bare chunk numbers). */
  deletePages(keys: readonly (PageKey | number)[]): Promise<void> {
    return this.#write(PAGES, 'relaxed', (store) => {
      for (const key of keys) store.delete(key);
    });
  }

  /** The switch of a fold: from its commit on, `meta` names the stored file. */
  putMeta(meta: Required<PagesMeta>): Promise<void> {
    return this.#write(META, 'strict', (store) => store.put(meta, MAIN));
  }

  deleteLegacyImage(): Promise<void> {
    return this.#write(SNAPSHOT, 'relaxed', (store) => store.delete(MAIN));
  }

  /** Deletes the journal records up to `seq` (those the stored pages hold). */
  dropThrough(seq: number): Promise<void> {
    return this.#write(JOURNAL, 'relaxed', (store) => store.delete(IDBKeyRange.upperBound(seq)));
  }

  #write(
    name: string,
    durability: 'strict' | 'relaxed',
    requests: (store: IDBObjectStore) => void,
  ): Promise<void> {
    return this.#settled(() => {
      const transaction = this.#db.transaction(name, 'readwrite', { durability });
      requests(transaction.objectStore(name));
      return completed(transaction);
    });
  }

  close(): void {
    this.#closedByUs = true;
    this.#db.close();
  }

  /**
   * A transaction on a closed connection throws at once: that too becomes a rejection. And a connection found closed
   * that this client did not close counts as closed from outside even if no `close` event came (seen on a full disk),
   * so that the client opens it again instead of failing every write on it.
   */
  #settled<T>(start: () => Promise<T>): Promise<T> {
    try {
      return start();
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === 'InvalidStateError' && !this.#closedByUs)
        this.#lost();
      return Promise.reject(error);
    }
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

/**
 * Chromium's report, on the upgrade that creates a database again, that it deleted the origin's IndexedDB (non-standard
 * `dataLoss` and `dataLossMessage`; only the first open after the deletion hears it). Undefined when it says nothing.
 */
function browserDataLoss(event: IDBVersionChangeEvent): string | undefined {
  const { dataLoss, dataLossMessage } = event as IDBVersionChangeEvent & {
    dataLoss?: unknown;
    dataLossMessage?: unknown;
  };
  if (event.oldVersion !== 0 || dataLoss !== 'total') return undefined;
  return typeof dataLossMessage === 'string' && dataLossMessage !== '' ? dataLossMessage : 'no reason given';
}
