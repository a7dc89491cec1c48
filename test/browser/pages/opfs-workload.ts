// A deterministic workload on the OPFS store for kill tests (test/browser/opfs-store-kill.test.ts): groups of one
// statement carrying a payload made from its journal position, strict, one after another; a fold every FOLD_EVERY
// positions, writing the chunks those positions changed. Everything a store should hold at any position is a
// function of that position, so after a kill the reopened store is checked against it exactly.
import { OpfsStore } from '../../../platform/browser/opfs-store.js';

export interface WorkloadShape {
  payloadBytes: number;
  chunkBytes: number;
  chunks: number;
  foldEvery: number;
}

const fill = (bytes: number, value: number) => new Uint8Array(bytes).fill(value & 0xff);
/** The chunks the position `seq` changes, when it is a fold's (a multiple of `foldEvery`). */
const changedBy = (shape: WorkloadShape, seq: number): number[] => {
  const k = seq / shape.foldEvery;
  return [...new Set([k % shape.chunks, (k * 7 + 3) % shape.chunks, (k * 13 + 5) % shape.chunks])];
};
const chunkContent = (shape: WorkloadShape, seq: number, chunk: number) =>
  fill(shape.chunkBytes, seq * 31 + chunk + 1);
const payloadOf = (shape: WorkloadShape, seq: number) => fill(shape.payloadBytes, seq * 17 + 3);

/** The file as of `base`: each chunk as the last fold position up to `base` that changed it left it. */
function expectedImage(shape: WorkloadShape, base: number): Uint8Array {
  const image = new Uint8Array(shape.chunkBytes * shape.chunks);
  for (let seq = shape.foldEvery; seq <= base; seq += shape.foldEvery) {
    for (const chunk of changedBy(shape, seq))
      image.set(chunkContent(shape, seq, chunk), chunk * shape.chunkBytes);
  }
  return image;
}

/** The chunks a fold at `seq` writes when the last stored fold held `base`: every chunk changed since, as of `seq`. */
function foldChunks(shape: WorkloadShape, base: number, seq: number): Map<number, Uint8Array> {
  const chunks = new Map<number, Uint8Array>();
  const first = Math.floor(base / shape.foldEvery + 1) * shape.foldEvery;
  for (let at = first; at <= seq; at += shape.foldEvery) {
    for (const chunk of changedBy(shape, at)) chunks.set(chunk, chunkContent(shape, at, chunk));
  }
  return chunks;
}

export class Workload {
  /** The last position stored durably (flushed): a kill after this must not lose it. */
  acknowledged = 0;
  folds = 0;
  /** Time spent inside folds, and since the start (ms): how likely a kill at a random moment lands in one. */
  foldMs = 0;
  startedAt = 0;
  #store: OpfsStore | undefined;
  #base = 0;
  #running = false;

  constructor(readonly shape: WorkloadShape) {}

  /** Opens (or creates) the store and checks it: what differs from the workload's rule, and where it ends. */
  async openAndCheck(name: string): Promise<{ base: number; last: number; problems: string[] }> {
    const problems: string[] = [];
    const opened = await OpfsStore.open(name);
    if (opened === undefined) {
      this.#store = await OpfsStore.create(name, expectedImage(this.shape, 0), 0);
      this.#base = 0;
      return { base: 0, last: 0, problems };
    }
    const { store, loaded } = opened;
    this.#store = store;
    const image = storedImage(store);
    const expected = expectedImage(this.shape, loaded.baseSeq);
    if (image.byteLength !== expected.byteLength)
      problems.push(`image ${image.byteLength} B, not ${expected.byteLength}`);
    else if (image.some((byte, i) => byte !== expected[i]))
      problems.push(`image differs at base ${loaded.baseSeq}`);
    let last = loaded.baseSeq;
    for (const group of loaded.groups) {
      if (group.seq !== last + 1) problems.push(`group ${group.seq} after ${last}`);
      const payload = group.statements[0]?.params?.[0];
      const want = payloadOf(this.shape, group.seq);
      if (
        !(payload instanceof Uint8Array) ||
        payload.length !== want.length ||
        payload.some((b, i) => b !== want[i])
      )
        problems.push(`group ${group.seq} has the wrong payload`);
      last = group.seq;
    }
    this.#base = loaded.baseSeq;
    // The position a kill interrupted may be due a fold: the next fold covers it (foldChunks spans from the base).
    return { base: loaded.baseSeq, last, problems };
  }

  /** Appends from `from` on until stopped (or killed), folding every `foldEvery` positions; yields between groups. */
  start(from: number): void {
    this.#running = true;
    this.startedAt = performance.now();
    let seq = from;
    const step = () => {
      if (!this.#running || !this.#store) return;
      this.#store.append(
        seq,
        [{ sql: 'INSERT INTO t VALUES (?)', params: [payloadOf(this.shape, seq)] }],
        'strict',
      );
      this.acknowledged = seq;
      if (seq % this.shape.foldEvery === 0) {
        const foldStarted = performance.now();
        const chunks = foldChunks(this.shape, this.#base, seq);
        this.#store.fold(
          { seq, fileBytes: this.shape.chunkBytes * this.shape.chunks, chunkBytes: this.shape.chunkBytes },
          chunks,
        );
        this.#base = seq;
        this.folds++;
        this.foldMs += performance.now() - foldStarted;
      }
      seq++;
      setTimeout(step, 0);
    };
    step();
  }
}

/** The whole stored file (as of the last fold). */
export function storedImage(store: OpfsStore): Uint8Array {
  const image = new Uint8Array(store.pagesBytes);
  const read = store.readPages(image, 0);
  if (read !== image.byteLength)
    throw new Error(`read ${read} of ${image.byteLength} bytes of the stored file`);
  return image;
}
