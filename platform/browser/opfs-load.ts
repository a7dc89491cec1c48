/**
 * Opening a database kept in the origin private file system (in the database worker): the stored file tracked by
 * a `PageFile`, the groups journaled after it replayed, and the store behind a `Persistence` (see opfs-store.ts).
 * A database with no store there yet starts empty.
 */
import type { SqlJsStatic } from 'sql.js';
import { SpotflowError } from '../../src/errors.js';
import { LogDamaged } from './frame-log.js';
import { CHUNK_BYTES, damaged, type Loaded, storageError } from './journal-load.js';
import { type OpfsLoaded, OpfsStore, opfsAvailable } from './opfs-store.js';
import { PageFile } from './page-file.js';
import { OpfsPersistence } from './persistence.js';
import { SqlEngine } from './sql-engine.js';

export async function loadOpfs(
  sql: SqlJsStatic,
  name: string,
): Promise<{ persistence: OpfsPersistence; loaded: Omit<Loaded, 'layout' | 'texts'> }> {
  if (!opfsAvailable()) {
    throw new SpotflowError(
      'DATABASE_UNAVAILABLE',
      `Cannot keep the database ${name} in the origin private file system: this browser has no sync access handles ` +
        "in workers (use storage: 'indexeddb')",
    );
  }
  let store: OpfsStore;
  let image: Uint8Array;
  let baseSeq = 0;
  let groups: OpfsLoaded['groups'] = [];
  try {
    const opened = await OpfsStore.open(name);
    if (opened === undefined) {
      image = new Uint8Array(0);
      store = await OpfsStore.create(name, image, 0);
    } else {
      ({ store } = opened);
      ({ image, baseSeq, groups } = opened.loaded);
    }
  } catch (error) {
    if (error instanceof LogDamaged || error instanceof RangeError) throw damaged(name, error);
    throw storageError(error, `Cannot open the database ${name} in the origin private file system`);
  }
  let file: PageFile | undefined;
  let engine: SqlEngine | undefined;
  try {
    file = PageFile.open(sql, image, CHUNK_BYTES);
    engine = new SqlEngine(file.db);
    let statements = 0;
    for (const group of groups) {
      engine.write(group.statements);
      statements += group.statements.length;
    }
    return {
      persistence: new OpfsPersistence(store),
      loaded: {
        file,
        engine,
        lastSeq: groups.at(-1)?.seq ?? baseSeq,
        journalStatements: statements,
        journalBytes: store.journalBytes,
        fullRewrite: false,
      },
    };
  } catch (error) {
    engine?.close();
    file?.close();
    store.close();
    throw damaged(name, error);
  }
}
