// The Database contract (test/contract/database-contract.ts) against the browser adapter: sql.js in a worker,
// durable through IndexedDB.
import { createBrowserDatabaseOpener } from '../../../platform/browser/database.js';
import type { Database } from '../../../src/ports.js';
import { type DatabaseContractContext, databaseContract } from '../../contract/database-contract.js';
import { exposeContract, markReady } from '../harness/in-page.js';
import './globals.js';

const opener = createBrowserDatabaseOpener();
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
  const chunks = request(transaction.objectStore('pages').getAll());
  const { seq, fileBytes, chunkBytes } = (await meta) as {
    seq: number;
    fileBytes: number;
    chunkBytes: number;
  };
  const image = new Uint8Array(fileBytes);
  for (const [i, chunk] of ((await chunks) as Uint8Array[]).entries()) {
    image.set(chunk.subarray(0, fileBytes - i * chunkBytes), i * chunkBytes);
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
globalThis.__version1Left = async (name) => {
  const idb = await request(indexedDB.open(name));
  const count = await request(idb.transaction('snapshot').objectStore('snapshot').count());
  idb.close();
  return count;
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
