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
        const stored = meta.result as { seq: number; fileBytes: number } | undefined;
        resolve({
          pagesSeq: stored?.seq ?? 0,
          journalRecords: journal.result,
          chunks: chunks.result,
          fileBytes: stored?.fileBytes ?? 0,
        });
      };
      transaction.onerror = () => reject(transaction.error);
    };
  });

markReady();
