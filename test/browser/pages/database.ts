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

markReady();
