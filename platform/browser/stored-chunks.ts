/**
 * How the SQLite file's chunks are kept in IndexedDB, read back at load and replaced by a fold (see journal-store.ts).
 *
 * Every IndexedDB transaction here does exactly one thing (one put, or one delete of one key). Chromium commits
 * such a transaction as one atomic LevelDB write; a transaction that writes twice, or deletes a range, is instead
 * written to disk before its commit with an undo log, and a browser killed in that state has been seen to lose the
 * origin's whole IndexedDB at the next start ("Internal error opening backing store").
 *
 * So a fold writes each changed chunk under a new key `[chunk, generation]` (a new generation per fold), then deletes
 * the strays of folds that never finished, then switches: one put of `meta` naming the generation. The file is, for
 * every chunk, its version of the highest generation not above the one `meta` names. Only after the switch are the
 * versions it replaced deleted; what a kill leaves of them is harmless (a lower generation) and found again at load.
 * Version 2 stored each chunk under its bare number; version 1 the whole file as one image in `snapshot`.
 */
import type { JournalStore, PagesMeta } from './journal-store.js';

/** A chunk's key: its number and the generation (fold) that wrote it. */
export type PageKey = [chunk: number, generation: number];

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
  /** Every `[chunk, generation]` key, in key order. */
  #keys: PageKey[] = [];
  #incomplete = false;

  constructor(meta: PagesMeta | undefined) {
    this.#meta = meta;
    this.#image = meta ? new Uint8Array(meta.fileBytes) : undefined;
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
      this.#keys.push(key);
      const [chunk, generation] = key;
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
      if (before !== undefined) layout.superseded.push([chunk, before]);
      layout.current.set(chunk, generation);
    }
    if (!this.numbered && layout.current.size !== this.#chunkCount) this.#incomplete = true;
  }

  /** Places the values of the keys `[first]` up to (not including) `[end]`, as `getAll` returned them. */
  addRange(first: number, end: number, values: readonly Uint8Array[]): void {
    const keys = this.#keys.filter(([chunk]) => chunk >= first && chunk < end);
    if (keys.length !== values.length) this.#incomplete = true;
    for (const [index, [chunk, generation]] of keys.entries()) {
      const value = values[index];
      if (value !== undefined && this.#layout.current.get(chunk) === generation) this.#place(chunk, value);
    }
  }

  /** Places version 2 chunks `first` up to (not including) `end`, as `getAll` returned them. */
  addNumbered(first: number, end: number, values: readonly Uint8Array[]): void {
    if (values.length !== Math.min(end, this.#chunkCount) - first) this.#incomplete = true;
    for (const [index, value] of values.entries()) this.#place(first + index, value);
  }

  /** Whether chunks from `next` on belong to the file. */
  more(next: number): boolean {
    return next < this.#chunkCount;
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

/** Stores folds as generations of chunks, one chunk per transaction, then switches `meta` to them. */
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
      for (const [chunk, bytes] of [...chunks]) {
        await store.writeChunk([chunk, generation], bytes);
        written.push(chunk);
        chunks.delete(chunk);
      }
      // Before the switch: once `meta` names a later generation, a stray would pass for its chunk's version.
      while (layout.strays.length > 0) {
        await store.deletePage(layout.strays[0]!);
        layout.strays.shift();
      }
      await store.putMeta({ ...meta, generation });
    } catch (error) {
      for (const chunk of written) layout.strays.push([chunk, generation]);
      throw error;
    }
    for (const chunk of written) {
      const before = layout.current.get(chunk);
      if (before !== undefined) layout.superseded.push([chunk, before]);
      layout.current.set(chunk, generation);
    }
    const chunkCount = Math.ceil(meta.fileBytes / meta.chunkBytes);
    for (const [chunk, before] of layout.current) {
      if (chunk < chunkCount) continue;
      layout.superseded.push([chunk, before]);
      layout.current.delete(chunk);
    }
    await this.#cleanUp(store).catch(() => {});
  }

  /** Deletes what the file no longer uses; what is left (a failure, a kill) is deleted after a later fold. */
  async #cleanUp(store: JournalStore): Promise<void> {
    const layout = this.#layout;
    while (layout.superseded.length > 0) {
      await store.deletePage(layout.superseded[0]!);
      layout.superseded.shift();
    }
    if (layout.legacyImage) {
      await store.deleteLegacyImage();
      layout.legacyImage = false;
    }
  }
}

/** The stored chunks do not cover the file `meta` describes: what is stored is damaged. */
export class StoredPagesMissing extends Error {
  constructor() {
    super('Stored pages are missing');
    this.name = 'StoredPagesMissing';
  }
}
