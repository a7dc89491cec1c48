// The Database contract (test/contract/database-contract.ts) against the browser adapter: sql.js in a worker,
// durable through IndexedDB (or the origin private file system, see below).
import { createBrowserDatabaseOpener } from '../../../platform/browser/database.js';
import { rootDirectory, storeDirectoryName } from '../../../platform/browser/opfs-files.js';
import type { Database } from '../../../src/ports.js';
import { type DatabaseContractContext, databaseContract } from '../../contract/database-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';
import './globals.js';

// IndexedDB unless asked: `?storage=opfs` runs everything here on the origin private file system, and
// `?storage=default` passes no storage option (the opener's own choice).
const asked = new URLSearchParams(location.search).get('storage');
const opener = createBrowserDatabaseOpener(
  asked === 'default' ? {} : { storage: asked === 'opfs' ? 'opfs' : 'indexeddb' },
);
const opened: Database[] = [];
let counter = 0;
// Names unique across reloads of this page: IndexedDB outlives the page.
const run = `${Date.now()}-${Math.random().toString(36).slice(2)}`;

exposeContract<DatabaseContractContext>(databaseContract, {
  context: () => ({
    async open(name: string) {
      const db = await opener.open(name);
      opened.push(db);
      return db;
    },
    freshName: () => `contract-${run}-${++counter}`,
  }),
  afterEach: async () => {
    await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  },
});

globalThis.__openDatabase = (name) => opener.open(name);
globalThis.__opfsFiles = async (name) => {
  const directory = await (await rootDirectory()).getDirectoryHandle(storeDirectoryName(name));
  // The stored file's segments (pages-0, pages-1, …) summed as `pages`.
  const sizes: Record<string, number> = { pages: 0 };
  sizes.journal = (await (await directory.getFileHandle('journal')).getFile()).size;
  for (let segment = 0; ; segment++) {
    const handle = await directory.getFileHandle(`pages-${segment}`).catch(() => undefined);
    if (handle === undefined) break;
    sizes.pages! += (await handle.getFile()).size;
  }
  return sizes;
};
globalThis.__deleteIdb = (name) =>
  new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
globalThis.__idbSummary = (name) =>
  new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const idb = request.result;
      const transaction = idb.transaction(['meta', 'pages', 'journal'], 'readonly');
      const meta = transaction.objectStore('meta').get('main');
      const chunks = transaction.objectStore('pages').count();
      const journal = transaction.objectStore('journal').count();
      transaction.oncomplete = () => {
        idb.close();
        const stored = meta.result as { seq: number; fileBytes: number; chunkBytes: number } | undefined;
        resolve({
          pagesSeq: stored?.seq ?? 0,
          journalRecords: journal.result,
          chunks: chunks.result,
          fileBytes: stored?.fileBytes ?? 0,
          chunkBytes: stored?.chunkBytes ?? 0,
        });
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });

globalThis.__storedImage = async (name) => {
  const idb = await request(indexedDB.open(name));
  const transaction = idb.transaction(['meta', 'pages'], 'readonly');
  const meta = request(transaction.objectStore('meta').get('main'));
  const keys = request(transaction.objectStore('pages').getAllKeys());
  const chunks = request(transaction.objectStore('pages').getAll());
  const { seq, fileBytes, chunkBytes, generation } = (await meta) as {
    seq: number;
    fileBytes: number;
    chunkBytes: number;
    generation: number;
  };
  // Each chunk's version of the highest generation up to the one meta names (read independently of the SDK).
  const image = new Uint8Array(fileBytes);
  const values = (await chunks) as Uint8Array[];
  for (const [i, [chunkGeneration, chunk]] of ((await keys) as [number, number][]).entries()) {
    if (chunkGeneration > generation) continue;
    image.set(values[i]!.subarray(0, fileBytes - chunk * chunkBytes), chunk * chunkBytes);
  }
  idb.close();
  return { image, seq };
};
globalThis.__writeVersion1 = async (name, snapshot, journal) => {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore('snapshot');
    open.result.createObjectStore('journal');
  };
  const idb = await request(open);
  const transaction = idb.transaction(['snapshot', 'journal'], 'readwrite');
  transaction.objectStore('snapshot').put(snapshot, 'main');
  for (const record of journal) transaction.objectStore('journal').put(record, record.seq);
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
  });
  idb.close();
};
globalThis.__writeVersion2 = async (name, snapshot, journal) => {
  const open = indexedDB.open(name, 2);
  open.onupgradeneeded = () => {
    for (const store of ['snapshot', 'journal', 'pages', 'meta']) open.result.createObjectStore(store);
  };
  const idb = await request(open);
  const transaction = idb.transaction(['pages', 'meta', 'journal'], 'readwrite');
  const chunkBytes = 32 * 1024;
  for (let chunk = 0; chunk * chunkBytes < snapshot.bytes.length; chunk++) {
    transaction
      .objectStore('pages')
      .put(snapshot.bytes.slice(chunk * chunkBytes, (chunk + 1) * chunkBytes), chunk);
  }
  transaction
    .objectStore('meta')
    .put({ seq: snapshot.seq, fileBytes: snapshot.bytes.length, chunkBytes }, 'main');
  for (const record of journal) transaction.objectStore('journal').put(record, record.seq);
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
  });
  idb.close();
};
globalThis.__version1Left = async (name) => {
  const idb = await request(indexedDB.open(name));
  const count = await request(idb.transaction('snapshot').objectStore('snapshot').count());
  idb.close();
  return count;
};

globalThis.__deleteStoredChunk = async (name, chunk) => {
  const idb = await request(indexedDB.open(name));
  const transaction = idb.transaction('pages', 'readwrite');
  const pages = transaction.objectStore('pages');
  // `[generation, chunk]` keys, or version 2's bare chunk numbers.
  const keys = (await request(pages.getAllKeys())).filter((key) =>
    Array.isArray(key) ? key[1] === chunk : key === chunk,
  );
  for (const key of keys) pages.delete(key);
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
  });
  idb.close();
  return keys.length;
};

globalThis.__largestStoredValue = async (name) => {
  const idb = await request(indexedDB.open(name));
  const transaction = idb.transaction(['journal', 'pages'], 'readonly');
  const values = await Promise.all([
    request(transaction.objectStore('journal').getAll()),
    request(transaction.objectStore('pages').getAll()),
  ]);
  idb.close();
  // Measured the way it is stored: the structured clone of the value (a Blob of the JSON-able parts is close
  // enough; byte arrays are counted as their length).
  let largest = 0;
  for (const value of values.flat()) {
    const size = value instanceof Uint8Array ? value.byteLength : JSON.stringify(value, bytesAsLength).length;
    largest = Math.max(largest, size);
  }
  return largest;
};

function bytesAsLength(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? 'x'.repeat(value.byteLength) : value;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

markReady();
