// The OPFS store (platform/browser/opfs-store.ts) in a dedicated worker, where sync access handles exist, driven
// step by step by test/browser/opfs-store.test.ts through pages/opfs.ts. Closing the store between steps leaves the
// files as a kill at that point would (every step flushes what it wrote).
import { opfsAvailable, rootDirectory, storeDirectoryName } from '../../../platform/browser/opfs-files.js';
import { type FoldMeta, OpfsStore } from '../../../platform/browser/opfs-store.js';
import type { SyncHandle } from '../../../platform/browser/segmented-file.js';
import type { SqlStatement } from '../../../src/ports.js';
import { storedImage, Workload, type WorkloadShape } from './opfs-workload.js';

export type OpfsRequest =
  | { op: 'available' }
  | { op: 'create'; name: string; image: number[]; seq: number }
  | { op: 'open'; name: string }
  | { op: 'append'; seq: number; statements: SqlStatement[]; durability: 'strict' | 'relaxed' }
  | { op: 'fold' | 'writeFold' | 'applyFold'; meta: FoldMeta; chunks: [number, number[]][] }
  | { op: 'close' }
  | { op: 'openTwice'; name: string }
  | { op: 'openWhileHeld'; name: string }
  | { op: 'appendToJournal'; name: string; bytes: number[] }
  | { op: 'cutJournal'; name: string; bytes: number }
  | { op: 'remove'; name: string }
  | { op: 'workloadOpen'; name: string; shape: WorkloadShape }
  | { op: 'workloadStart'; from: number }
  | { op: 'workloadProgress' };

let store: OpfsStore | undefined;
let workload: Workload | undefined;

/** Resolves when a sync access handle is next refused because another one holds its file. */
function firstRefusalOfHeldFiles(): Promise<void> {
  const prototype = FileSystemFileHandle.prototype as unknown as {
    createSyncAccessHandle(this: FileSystemFileHandle): Promise<SyncHandle>;
  };
  const create = prototype.createSyncAccessHandle;
  return new Promise((resolve) => {
    prototype.createSyncAccessHandle = function (this: FileSystemFileHandle) {
      return create.call(this).catch((error: DOMException) => {
        if (error.name === 'NoModificationAllowedError') {
          prototype.createSyncAccessHandle = create;
          resolve();
        }
        throw error;
      });
    };
  });
}

/** A file's sync access handle (the DOM types this project builds with do not have `createSyncAccessHandle`). */
function syncAccess(file: FileSystemFileHandle): Promise<SyncHandle> {
  return (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle();
}

async function directory(name: string): Promise<FileSystemDirectoryHandle> {
  return (await rootDirectory()).getDirectoryHandle(storeDirectoryName(name), { create: true });
}

async function handle(request: OpfsRequest): Promise<unknown> {
  switch (request.op) {
    case 'available':
      return opfsAvailable();
    case 'create':
      store = await OpfsStore.create(request.name, new Uint8Array(request.image), request.seq);
      return null;
    case 'open': {
      const opened = await OpfsStore.open(request.name);
      if (opened === undefined) return 'none';
      store = opened.store;
      const { baseSeq, groups } = opened.loaded;
      return { image: [...storedImage(store)], baseSeq, groups, journalBytes: store.journalBytes };
    }
    case 'append':
      store!.append(request.seq, request.statements, request.durability);
      return null;
    case 'fold':
    case 'writeFold':
    case 'applyFold': {
      const chunks = new Map(request.chunks.map(([chunk, bytes]) => [chunk, new Uint8Array(bytes)]));
      store![request.op](request.meta, chunks);
      return null;
    }
    case 'close':
      store?.close();
      store = undefined;
      return null;
    case 'openWhileHeld': {
      // The store is open here; a second open waits while it is held, and gets the files once they are let go: they
      // are let go once the second open has been refused them at least once (the event, not a time).
      const refused = firstRefusalOfHeldFiles();
      const second = OpfsStore.open(request.name);
      await refused;
      store!.close();
      const opened = await second;
      if (opened === undefined) return 'none';
      store = opened.store;
      return 'opened';
    }
    case 'openTwice':
      // The store is open (in this worker): a second open of the same files must be refused.
      return OpfsStore.open(request.name).then(
        () => 'opened',
        (error: DOMException) => error.name,
      );
    case 'appendToJournal': {
      const access = await syncAccess(await (await directory(request.name)).getFileHandle('journal'));
      access.write(new Uint8Array(request.bytes), { at: access.getSize() });
      access.flush();
      access.close();
      return null;
    }
    case 'cutJournal': {
      const access = await syncAccess(await (await directory(request.name)).getFileHandle('journal'));
      access.truncate(access.getSize() - request.bytes);
      access.flush();
      access.close();
      return null;
    }
    case 'workloadOpen':
      workload = new Workload(request.shape);
      return workload.openAndCheck(request.name);
    case 'workloadStart':
      workload!.start(request.from);
      return null;
    case 'workloadProgress':
      return {
        acknowledged: workload!.acknowledged,
        folds: workload!.folds,
        foldMs: workload!.foldMs,
        runMs: performance.now() - workload!.startedAt,
      };
    case 'remove': {
      await (await rootDirectory()).removeEntry(storeDirectoryName(request.name), { recursive: true });
      return null;
    }
  }
}

self.onmessage = async ({ data }: MessageEvent<{ id: number; request: OpfsRequest }>) => {
  try {
    self.postMessage({ id: data.id, ok: true, value: await handle(data.request) });
  } catch (error) {
    self.postMessage({
      id: data.id,
      ok: false,
      error: `${(error as Error).name}: ${(error as Error).message}`,
    });
  }
};
