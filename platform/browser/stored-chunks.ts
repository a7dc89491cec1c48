/**
 * How the SQLite file's chunks are kept in IndexedDB, read back at load and replaced by a fold (see journal-store.ts).
 *
 * A fold writes the changed chunks under new keys `[generation, chunk]` (a new generation per fold), a few per
 * transaction (each under 1 MiB, which Chromium commits as one LevelDB write), having first deleted the strays of
 * folds that never finished, then switches: one put of `meta` naming the generation. The file is, for every chunk,
 * its version of the highest generation not above the one `meta` names. Only after the switch are the versions it replaced
 * deleted; what a kill leaves of them is harmless (a lower generation) and found again at load. So the stored file is
 * the one before a fold or the one after it, whenever the browser dies.
 * Version 2 stored each chunk under its bare number; version 1 the whole file as one image in `snapshot`.
 */
import type { JournalStore, PagesMeta } from './journal-store.js';
import { fileImage } from './page-file.js';

/** What one transaction of a fold stores at most (16 chunks): Chromium commits up to 1 MiB as one LevelDB write. */
const FOLD_TRANSACTION_BYTES = 512 * 1024;

/**
 * A chunk's key: the generation (fold) that wrote it, then its number. Generation first, so that each fold's chunks
 * are the newest keys of the store: the LevelDB tables Chromium flushes after a fold then span only the end of the
 * page store, and compaction rewrites that end instead of the whole store (chunk 0 is rewritten by every fold).
 */
export type PageKey = [generation: number, chunk: number];

/** What the stored keys say: the file's chunks, and what is left to delete. */
export interface ChunkLayout {
  /** Per chunk of the file, the generation of its version in the file. */
  current: Map<number, number>;
  /** Chunks of folds that never switched: deleted before the next switch. */
  strays: PageKey[];
  /** Versions no longer in the file (replaced, past its end, or version 2's): deleted after the next switch. */
  superseded: (PageKey | number)[];
  /** The version 1 image is still stored (deleted after the next switch). */
  legacyImage: boolean;
  /** The first generation no key uses yet. */
  next: number;
}

export class ChunkAssembly {
  readonly #meta: PagesMeta | undefined;
  readonly #image: Uint8Array | undefined;
  readonly #chunkCount: number;
  readonly #layout: ChunkLayout = {
    current: new Map(),
    strays: [],
    superseded: [],
    legacyImage: false,
    next: 1,
  };
  #incomplete = false;

  constructor(meta: PagesMeta | undefined) {
    this.#meta = meta;
    this.#image = meta ? fileImage(meta.fileBytes) : undefined;
    this.#chunkCount = meta ? Math.ceil(meta.fileBytes / meta.chunkBytes) : 0;
  }

  /** Whether the chunks are stored under bare numbers (version 2). */
  get numbered(): boolean {
    return this.#meta !== undefined && this.#meta.generation === undefined;
  }

  /** Takes every key stored in `pages` (sorted, as IndexedDB returns them), and whether a version 1 image is left. */
  setKeys(keys: readonly (PageKey | number)[], legacyImage: boolean): void {
    const layout = this.#layout;
    layout.legacyImage = legacyImage;
    const committed = this.#meta?.generation ?? 0;
    for (const key of keys) {
      if (typeof key === 'number') {
        // Version 2's chunks: the file until the first switch, deleted after it.
        layout.superseded.push(key);
        continue;
      }
      const [generation, chunk] = key;
      layout.next = Math.max(layout.next, generation + 1);
      if (generation > committed) {
        layout.strays.push(key);
        continue;
      }
      if (chunk >= this.#chunkCount) {
        layout.superseded.push(key);
        continue;
      }
      // Keys come in order: a later version of the same chunk replaces the one before.
      const before = layout.current.get(chunk);
      if (before !== undefined) layout.superseded.push([before, chunk]);
      layout.current.set(chunk, generation);
    }
    if (!this.numbered && layout.current.size !== this.#chunkCount) this.#incomplete = true;
  }

  /**
   * The key of every chunk of the file, with its number: each is read with a `get` of its own, as Chromium answers
   * point reads several times faster than a range `getAll` of the same values (1,200 chunks of 32 KiB: 0.3–0.4 s
   * against 1.9–2.4 s), and a range would also read the versions the file no longer uses.
   */
  *reads(): Generator<[key: PageKey | number, chunk: number]> {
    if (this.numbered) {
      for (let chunk = 0; chunk < this.#chunkCount; chunk++) yield [chunk, chunk];
      return;
    }
    for (const [chunk, generation] of this.#layout.current) yield [[generation, chunk], chunk];
  }

  /** Places a chunk as its `get` returned it (undefined: not stored, so the file is incomplete). */
  add(chunk: number, value: Uint8Array | undefined): void {
    if (value === undefined) this.#incomplete = true;
    else this.#place(chunk, value);
  }

  /** The file (undefined without `meta`); throws when a chunk of it is not stored. */
  finish(): Uint8Array | undefined {
    if (this.#incomplete) throw new StoredPagesMissing();
    return this.#image;
  }

  layout(): ChunkLayout {
    return this.#layout;
  }

  #place(chunk: number, value: Uint8Array): void {
    const meta = this.#meta;
    if (!meta || !this.#image) return;
    const offset = chunk * meta.chunkBytes;
    if (offset < meta.fileBytes) this.#image.set(value.subarray(0, meta.fileBytes - offset), offset);
  }
}

/** Stores folds as generations of chunks, up to 512 KiB per transaction, then switches `meta` to them. */
export class FoldWriter {
  readonly #layout: ChunkLayout;

  constructor(layout: ChunkLayout) {
    this.#layout = layout;
  }

  /**
   * Stores `chunks` (the ones changed, or every one) as the file `meta` describes. Each chunk's copy is let go as
   * soon as it is stored. If it fails, the stored file is the one before.
   */
  async store(
    store: JournalStore,
    meta: Omit<PagesMeta, 'generation'>,
    chunks: Map<number, Uint8Array>,
  ): Promise<void> {
    const layout = this.#layout;
    // A generation is never used twice: chunks a failed fold stored under it must not join a later fold's file.
    const generation = layout.next++;
    const written: number[] = [];
    try {
      // First: once `meta` names a later generation, a stray would pass for its chunk's version; and on a full disk
      // the failed folds' copies must make room before this one writes another.
      if (layout.strays.length > 0) await store.deletePages(layout.strays);
      layout.strays = [];
      for (const batch of batches([...chunks])) {
        await store.writeChunks(batch.map(([chunk, bytes]) => [[generation, chunk], bytes]));
        for (const [chunk] of batch) {
          written.push(chunk);
          chunks.delete(chunk);
        }
      }
      await store.putMeta({ ...meta, generation });
    } catch (error) {
      for (const chunk of written) layout.strays.push([generation, chunk]);
      throw error;
    }
    for (const chunk of written) {
      const before = layout.current.get(chunk);
      if (before !== undefined) layout.superseded.push([before, chunk]);
      layout.current.set(chunk, generation);
    }
    const chunkCount = Math.ceil(meta.fileBytes / meta.chunkBytes);
    for (const [chunk, before] of layout.current) {
      if (chunk < chunkCount) continue;
      layout.superseded.push([before, chunk]);
      layout.current.delete(chunk);
    }
    await this.#cleanUp(store).catch(() => {});
  }

  /** Deletes what the file no longer uses; what is left (a failure, a kill) is deleted after a later fold. */
  async #cleanUp(store: JournalStore): Promise<void> {
    const layout = this.#layout;
    if (layout.superseded.length > 0) await store.deletePages(layout.superseded);
    layout.superseded = [];
    if (layout.legacyImage) {
      await store.deleteLegacyImage();
      layout.legacyImage = false;
    }
  }
}

/** `entries` in runs of at most FOLD_TRANSACTION_BYTES. */
function batches(entries: [number, Uint8Array][]): [number, Uint8Array][][] {
  const runs: [number, Uint8Array][][] = [];
  let run: [number, Uint8Array][] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (run.length > 0 && bytes + entry[1].byteLength > FOLD_TRANSACTION_BYTES) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(entry);
    bytes += entry[1].byteLength;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** The stored chunks do not cover the file `meta` describes: what is stored is damaged. */
export class StoredPagesMissing extends Error {
  constructor() {
    super('Stored pages are missing');
    this.name = 'StoredPagesMissing';
  }
}
