/**
 * The SQLite worker thread: serves every database the process opens (worker-database.ts starts one per process), so
 * that SQLite's work and the fsync of each durable commit happen off the main thread, which keeps reading and
 * writing MQTT meanwhile. The connections are the in-thread store's own (database.ts): the same open sequence,
 * durability, statement cache and error translation; this file only routes requests to them by handle.
 */
import { parentPort } from 'node:worker_threads';
import { SpotflowError } from '../../src/errors.js';
import type { Database } from '../../src/ports.js';
import { createSqliteDatabaseOpener } from './database.js';
import { loadNodeDriver } from './node-driver.js';
import type { SqliteRow } from './sqlite-driver.js';
import {
  errorToWire,
  type SqliteAnswers,
  type SqliteRequest,
  type SqliteResponse,
} from './sqlite-worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-worker.js runs as a worker thread (worker-database.ts starts it)');

const opener = createSqliteDatabaseOpener(loadNodeDriver);
const databases = new Map<number, Database>();
let nextHandle = 1;

async function serve(request: SqliteRequest): Promise<SqliteAnswers[SqliteRequest['op']]> {
  if (request.op === 'open') {
    const handle = nextHandle++;
    databases.set(handle, await opener.open(request.path));
    return handle;
  }
  const db = databases.get(request.handle);
  // The main side stops calling a handle once it has closed it, so this is a bug there.
  if (db === undefined) throw new SpotflowError('INTERNAL', `No database has the handle ${request.handle}`);
  switch (request.op) {
    case 'write':
      return db.write(request.statements, { durability: request.durability });
    case 'query':
      return db.query<SqliteRow>(request.sql, request.params);
    case 'close':
      databases.delete(request.handle);
      await db.close();
      return undefined;
  }
}

// The store's calls do their work synchronously before their promise settles, so requests run in arrival order.
port.on('message', (request: SqliteRequest) => {
  serve(request).then(
    (value) => port.postMessage({ id: request.id, ok: true, value } satisfies SqliteResponse),
    (error: unknown) =>
      port.postMessage({ id: request.id, ok: false, error: errorToWire(error) } satisfies SqliteResponse),
  );
});
