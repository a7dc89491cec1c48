/**
 * Where the OPFS store's files are (one directory per database under the SDK's own), whether this context can have
 * them, and opening them: the journal and the file's segments, each through a sync access handle.
 */
import { closeAll, SegmentedFile, type SyncHandle } from './segmented-file.js';

interface FileHandle {
  createSyncAccessHandle(): Promise<SyncHandle>;
}

/** The stored file's segments are `pages-0`, `pages-1`, … (segmented-file.ts). */
const PAGES_PREFIX = 'pages';

/** Whether this context can keep a store in the origin private file system (a dedicated worker of a secure origin). */
export function opfsAvailable(): boolean {
  const scope = globalThis as {
    navigator?: { storage?: { getDirectory?: unknown } };
    FileSystemFileHandle?: { prototype?: { createSyncAccessHandle?: unknown } };
  };
  return (
    typeof scope.navigator?.storage?.getDirectory === 'function' &&
    typeof scope.FileSystemFileHandle?.prototype?.createSyncAccessHandle === 'function'
  );
}

/** This browser's sync access handles answer with promises (Chromium before 108): the store cannot use them. */
export class AsynchronousHandles extends Error {
  constructor() {
    super("this browser's sync access handles are asynchronous (Chromium before 108)");
  }
}

/** The SDK's directory in the origin private file system. */
const ROOT_DIRECTORY = 'spotflow-device';

/** A directory name for `name` that OPFS accepts whatever the name holds (no `/`, never `.` or `..`). */
export function storeDirectoryName(name: string): string {
  return `db-${encodeURIComponent(name).replaceAll('.', '%2E')}`;
}

/** The SDK's directory (holding one directory per database, see `storeDirectoryName`), created if missing. */
export async function rootDirectory(): Promise<FileSystemDirectoryHandle> {
  const root = await (
    globalThis as unknown as {
      navigator: { storage: { getDirectory(): Promise<FileSystemDirectoryHandle> } };
    }
  ).navigator.storage.getDirectory();
  return root.getDirectoryHandle(ROOT_DIRECTORY, { create: true });
}

/**
 * How long an open waits for the files while another context still holds them: the owner before this one (whose
 * Web Lock is released when its tab dies, a moment before the browser closes its handles).
 */
const HELD_FILES_WAIT_MS = 5_000;

/** The store's files, opened; tried again for a while if another context still holds them. */
export async function openHandles(name: string): Promise<{ pages: SegmentedFile; journalFile: SyncHandle }> {
  const deadline = performance.now() + HELD_FILES_WAIT_MS;
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await openHandlesOnce(name);
    } catch (error) {
      const held = (error as { name?: unknown } | null)?.name === 'NoModificationAllowedError';
      if (!held || performance.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The directory of database `name`'s store, created if missing. */
export async function storeDirectory(name: string): Promise<FileSystemDirectoryHandle> {
  return (await rootDirectory()).getDirectoryHandle(storeDirectoryName(name), { create: true });
}

async function openHandlesOnce(name: string): Promise<{ pages: SegmentedFile; journalFile: SyncHandle }> {
  const directory = await storeDirectory(name);
  const journalHandle = (await directory.getFileHandle('journal', { create: true })) as unknown as FileHandle;
  const journalFile = await journalHandle.createSyncAccessHandle();
  // Chromium 102–107 shipped sync access handles whose getSize, truncate, flush and close return promises: a fact
  // of the browser, found on the first handle rather than on a scratch file of its own.
  const size: unknown = journalFile.getSize();
  if (typeof size !== 'number') {
    await journalFile.close();
    throw new AsynchronousHandles();
  }
  try {
    return { pages: await SegmentedFile.open(directory, PAGES_PREFIX), journalFile };
  } catch (error) {
    closeAll([journalFile]);
    throw error;
  }
}

export function closeFiles(pages: SegmentedFile, journalFile: SyncHandle): void {
  pages.close();
  closeAll([journalFile]);
}
