// opfs-lab dedicated worker. Modes: kill, cost, full, excl-worker, probe.
const P = new URL(self.location.href).searchParams;
const MODE = P.get('mode');
const RUN = P.get('run') || '';
const post = (p, o) =>
  fetch(p, { method: 'POST', body: JSON.stringify({ run: RUN, ...o }) }).then((r) => r.json());
const report = (type, o = {}) => post('/report', { type, ...o });
const errObj = (e) => ({ name: e?.name, message: e?.message });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mc = new MessageChannel();
const yieldNow = () =>
  new Promise((r) => {
    mc.port1.onmessage = () => r();
    mc.port2.postMessage(0);
  });

const CRC = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC[n] = c >>> 0;
}
function crc32(u8) {
  let c = 0xffffffff;
  for (let i = 0; i < u8.length; i++) c = CRC[(c ^ u8[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// record: magic u32 | crc32(len..payload) u32 | len u32 | seq u32 | payload
const MAGIC = 0x4f50464c,
  HDR = 16;
function makeRecord(seq, len) {
  const buf = new Uint8Array(HDR + len);
  const dv = new DataView(buf.buffer);
  let x = Math.imul(seq, 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[HDR + i] = x & 255;
  }
  dv.setUint32(0, MAGIC);
  dv.setUint32(8, len);
  dv.setUint32(12, seq);
  dv.setUint32(4, crc32(buf.subarray(8)));
  return buf;
}
function parseLog(u8) {
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  let off = 0,
    stop = 'eof';
  const seqs = [];
  for (;;) {
    if (off === u8.length) break;
    if (off + HDR > u8.length) {
      stop = 'torn-header';
      break;
    }
    if (dv.getUint32(off) !== MAGIC) {
      stop = u8.subarray(off).every((b) => b === 0) ? 'zeros' : 'bad-magic';
      break;
    }
    const len = dv.getUint32(off + 8);
    if (len > 16 << 20) {
      stop = 'bad-len';
      break;
    }
    if (off + HDR + len > u8.length) {
      stop = 'torn-payload';
      break;
    }
    if (crc32(u8.subarray(off + 8, off + HDR + len)) !== dv.getUint32(off + 4)) {
      stop = 'bad-crc';
      break;
    }
    seqs.push(dv.getUint32(off + 12));
    off += HDR + len;
  }
  return { seqs, validEnd: off, stop, tail: u8.length - off };
}
function checkRecordBytes(seq, u8) {
  const p = parseLog(u8);
  return p.stop === 'eof' && p.seqs.length === 1 && p.seqs[0] === seq;
}

function openDb(name = 'lab') {
  return new Promise((res, rej) => {
    let oldVersion = null;
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = (ev) => {
      oldVersion = ev.oldVersion;
      r.result.createObjectStore('recs');
    };
    r.onsuccess = () => res({ db: r.result, oldVersion });
    r.onerror = () => rej(r.error);
    r.onblocked = () => rej(new Error('blocked'));
  });
}
const txDone = (tx) =>
  new Promise((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(tx.error);
    tx.onabort = () => rej(tx.error || new Error('abort'));
  });
const reqP = (r) =>
  new Promise((res, rej) => {
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });

// ---------------- Q1: kill rounds ----------------
async function killMode() {
  const LEN = Number(P.get('len')),
    BATCH = Number(P.get('batch') || 1);
  const FLUSH = P.get('flush') !== '0',
    USE_IDB = P.get('idb') !== '0',
    USE_OPFS = P.get('opfs') !== '0';
  const CAP = Number(P.get('cap') || 32 << 20);
  const st = await post('/state', {});
  const res = { opfs: {}, idb: {} };
  let next = st.maxSeq + 1;
  let h = null,
    at = 0,
    db = null;
  if (USE_OPFS) {
    let root, fh;
    try {
      root = await navigator.storage.getDirectory();
    } catch (e) {
      res.opfs.rootError = errObj(e);
    }
    try {
      fh = await root.getFileHandle('log.bin');
    } catch (e) {
      res.opfs.fileMissing = errObj(e);
      fh = await root.getFileHandle('log.bin', { create: true });
    }
    res.opfs.rootEntries = [];
    for await (const [n] of root.entries()) res.opfs.rootEntries.push(n);
    const t0 = performance.now();
    h = await fh.createSyncAccessHandle();
    const size = h.getSize();
    const u8 = new Uint8Array(size);
    const nread = h.read(u8, { at: 0 });
    const p = parseLog(u8);
    let contiguous = true;
    for (let i = 1; i < p.seqs.length; i++) if (p.seqs[i] !== p.seqs[i - 1] + 1) contiguous = false;
    const have = new Set(p.seqs);
    let missing = 0;
    for (const [a, b] of st.opfsRanges) for (let s = a; s <= b; s++) if (!have.has(s)) missing++;
    Object.assign(res.opfs, {
      size,
      nread,
      validEnd: p.validEnd,
      stop: p.stop,
      tail: p.tail,
      count: p.seqs.length,
      first: p.seqs[0],
      last: p.seqs.at(-1),
      contiguous,
      missing,
      readMs: performance.now() - t0,
    });
    if (p.seqs.length) next = Math.max(next, p.seqs.at(-1) + 1);
    at = p.validEnd;
    if (p.tail) {
      h.truncate(p.validEnd);
      h.flush();
      res.opfs.truncatedTail = p.tail;
    }
    if (!p.seqs.length || p.validEnd > CAP || missing || !contiguous) res.opfs.reset = true;
  }
  const _values = [];
  if (USE_IDB) {
    res.idb.openErrors = [];
    for (let i = 0; i < 6 && !db; i++) {
      try {
        const o = await openDb();
        db = o.db;
        res.idb.oldVersion = o.oldVersion;
      } catch (e) {
        res.idb.openErrors.push(errObj(e));
        await sleep(1000);
      }
    }
    if (db) {
      const t0 = performance.now();
      const tx = db.transaction('recs', 'readonly');
      const keys = await reqP(tx.objectStore('recs').getAllKeys());
      let bad = 0,
        bytes = 0;
      await new Promise((resolve, reject) => {
        const c = tx.objectStore('recs').openCursor();
        c.onsuccess = () => {
          const cur = c.result;
          if (!cur) return resolve();
          const v = new Uint8Array(cur.value);
          bytes += v.length;
          if (!checkRecordBytes(cur.key, v)) bad++;
          cur.continue();
        };
        c.onerror = () => reject(c.error);
      });
      const have = new Set(keys);
      let missing = 0;
      for (const [a, b] of st.idbRanges) for (let s = a; s <= b; s++) if (!have.has(s)) missing++;
      Object.assign(res.idb, {
        count: keys.length,
        first: keys[0],
        last: keys.at(-1),
        bad,
        bytes,
        missing,
        readMs: performance.now() - t0,
      });
      if (keys.length) next = Math.max(next, keys.at(-1) + 1);
      if (bytes > CAP || missing || bad || !keys.length) res.idb.reset = true;
    }
  }
  if (res.opfs.reset && h) {
    h.truncate(0);
    h.flush();
    at = 0;
  }
  if (res.idb.reset && db) {
    const tx = db.transaction('recs', 'readwrite', { durability: 'strict' });
    tx.objectStore('recs').clear();
    await txDone(tx);
  }
  res.next = next;
  await post('/verified', res);
  // append loop
  const rep = { opfs: null, idb: null };
  (async () => {
    let sent = '';
    for (;;) {
      const s = JSON.stringify(rep);
      if (s !== sent) {
        await post('/progress', { ...rep });
        sent = s;
      } else await sleep(2);
    }
  })();
  await post('/appending', { next });
  let seq = next;
  for (;;) {
    const recs = [];
    for (let b = 0; b < BATCH; b++) recs.push(makeRecord(seq + b, LEN));
    if (h) {
      for (const r of recs) {
        const n = h.write(r, { at });
        if (n !== r.length) await report('short-write', { n, want: r.length });
        at += n;
      }
      if (FLUSH) h.flush();
      rep.opfs = seq + BATCH - 1;
    }
    if (db) {
      const tx = db.transaction('recs', 'readwrite', { durability: 'strict' });
      const os = tx.objectStore('recs');
      for (let b = 0; b < BATCH; b++) os.put(recs[b].buffer, seq + b);
      try {
        await txDone(tx);
        rep.idb = seq + BATCH - 1;
      } catch (e) {
        await report('idb-put-error', errObj(e));
        await sleep(100);
      }
    } else await yieldNow();
    seq += BATCH;
  }
}

// ---------------- Q2: cost ----------------
async function costMode() {
  const N = Number(P.get('n') || 500),
    REPS = Number(P.get('reps') || 3),
    LEN = 256;
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle('cost.bin', { create: true });
  const h = await fh.createSyncAccessHandle();
  h.truncate(0);
  h.flush();
  const { db } = await openDb('cost');
  {
    const tx = db.transaction('recs', 'readwrite', { durability: 'strict' });
    tx.objectStore('recs').clear();
    await txDone(tx);
  }
  let at = 0,
    seq = 1;
  const recs = [];
  for (let i = 0; i < N; i++) recs.push(makeRecord(i, LEN));
  const phases = {
    idle: async () => {
      await sleep(3000);
    },
    opfsWriteFlush: async () => {
      for (let i = 0; i < N; i++) {
        at += h.write(recs[i], { at });
        h.flush();
      }
    },
    flushOnly: async () => {
      for (let i = 0; i < N; i++) h.flush();
    },
    opfsWriteNoFlush: async () => {
      for (let i = 0; i < N; i++) at += h.write(recs[i], { at });
    },
    idbStrict: async () => {
      for (let i = 0; i < N; i++) {
        const tx = db.transaction('recs', 'readwrite', { durability: 'strict' });
        tx.objectStore('recs').put(recs[i].buffer.slice(0), seq++);
        await txDone(tx);
      }
    },
    idbRelaxed: async () => {
      for (let i = 0; i < N; i++) {
        const tx = db.transaction('recs', 'readwrite', { durability: 'relaxed' });
        tx.objectStore('recs').put(recs[i].buffer.slice(0), seq++);
        await txDone(tx);
      }
    },
  };
  const order = (
    P.get('phases') || 'idle,opfsWriteFlush,flushOnly,idbStrict,idbRelaxed,opfsWriteNoFlush'
  ).split(',');
  for (let r = 0; r < REPS; r++) {
    for (const name of order) {
      await sleep(1500);
      await post('/mark', { name, rep: r, edge: 'start' });
      const t0 = performance.now();
      await phases[name]();
      const ms = performance.now() - t0;
      await post('/mark', { name, rep: r, edge: 'end', ms, n: N });
      await sleep(2000);
      await post('/mark', { name, rep: r, edge: 'settled' });
    }
  }
  if (P.get('flushTail') === '1') h.flush();
  h.close();
  await report('cost-done', { fileSize: at });
}

// ---------------- Q3: full disk ----------------
async function fullMode() {
  const LEN = Number(P.get('len') || 65536 - HDR);
  const out = {};
  try {
    out.estimate0 = await navigator.storage.estimate();
  } catch (e) {
    out.estimate0 = errObj(e);
  }
  try {
    out.persisted = await navigator.storage.persisted();
  } catch (_e) {}
  await report('full-start', out);
  await post('/waitfor', { name: 'go' });
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle('fill.bin', { create: true });
  const h = await fh.createSyncAccessHandle();
  h.truncate(0);
  h.flush();
  let at = 0,
    seq = 0,
    flushedEnd = 0;
  async function fillUntilError(tag) {
    for (;;) {
      const r = makeRecord(seq, LEN);
      let n;
      try {
        n = h.write(r, { at });
      } catch (e) {
        return { tag, op: 'write', err: errObj(e), at, flushedEnd, sizeAfter: h.getSize(), seq };
      }
      if (n !== r.length) {
        const o = {
          tag,
          op: 'write-short',
          n,
          want: r.length,
          at,
          flushedEnd,
          sizeAfterShortWrite: h.getSize(),
          seq,
        };
        try {
          o.flushAfterShort = 'ok';
          h.flush();
        } catch (e) {
          o.flushAfterShort = errObj(e);
        }
        o.verifyBeforeTruncate = verify();
        try {
          h.truncate(flushedEnd);
          h.flush();
          o.truncatedBack = true;
        } catch (e) {
          o.truncatedBack = errObj(e);
        }
        at = flushedEnd;
        o.sizeAfter = h.getSize();
        return o;
      }
      at += n;
      seq++;
      try {
        h.flush();
        flushedEnd = at;
      } catch (e) {
        return { tag, op: 'flush', err: errObj(e), at, flushedEnd, sizeAfter: h.getSize(), seq };
      }
    }
  }
  function verify() {
    const size = h.getSize();
    const u8 = new Uint8Array(size);
    const nread = h.read(u8, { at: 0 });
    const p = parseLog(u8);
    return {
      size,
      nread,
      validEnd: p.validEnd,
      stop: p.stop,
      tail: p.tail,
      count: p.seqs.length,
      lastSeq: p.seqs.at(-1),
      flushedEnd,
      intactToFlushed: p.validEnd >= flushedEnd,
    };
  }
  async function est() {
    try {
      return await navigator.storage.estimate();
    } catch (e) {
      return errObj(e);
    }
  }
  const r1 = await fillUntilError('first');
  r1.verify = verify();
  r1.estimate = await est();
  await report('full-error', r1);
  // probe: is a tiny write possible now? (without freeing)
  try {
    const n = h.write(new Uint8Array(16), { at: flushedEnd });
    h.flush();
    r1.tinyWrite = { ok: true, n };
  } catch (e) {
    r1.tinyWrite = errObj(e);
  }
  try {
    h.truncate(flushedEnd);
    h.flush();
  } catch (e) {
    r1.truncBack = errObj(e);
  }
  at = flushedEnd;
  await report('full-tiny', { tinyWrite: r1.tinyWrite, truncBack: r1.truncBack || 'ok', size: h.getSize() });
  // (a) free space from inside: truncate the OPFS file to half (record boundary) and write again
  const p = parseLog(
    (() => {
      const u = new Uint8Array(h.getSize());
      h.read(u, { at: 0 });
      return u;
    })(),
  );
  const half = (LEN + HDR) * Math.floor(p.seqs.length / 2);
  h.truncate(half);
  h.flush();
  at = half;
  flushedEnd = half;
  seq = Math.floor(p.seqs.length / 2);
  const after = {};
  try {
    const r = makeRecord(seq, LEN);
    after.n = h.write(r, { at });
    h.flush();
    at += after.n;
    flushedEnd = at;
    seq++;
    after.ok = true;
  } catch (e) {
    after.err = errObj(e);
  }
  after.estimate = await est();
  await report('full-after-truncate', after);
  const r2 = await fillUntilError('second-after-truncate');
  r2.verify = verify();
  r2.estimate = await est();
  await report('full-error2', r2);
  // (b) free space from outside: the driver deletes a ballast file in the tmpfs
  await post('/waitfor', { name: 'freed' });
  const after2 = { attempts: [] };
  const tf = performance.now();
  for (;;) {
    const a = { tSinceFreedMs: Math.round(performance.now() - tf), at };
    try {
      const r = makeRecord(seq, LEN);
      a.n = h.write(r, { at });
      if (a.n === r.length) {
        h.flush();
        at += a.n;
        flushedEnd = at;
        seq++;
        a.ok = true;
      } else {
        h.truncate(flushedEnd);
      }
    } catch (e) {
      a.err = errObj(e);
    }
    after2.attempts.push(a);
    if (a.ok || performance.now() - tf > 60000) break;
    await sleep(3000);
  }
  after2.ok = after2.attempts.at(-1).ok;
  after2.estimate = await est();
  after2.verify = verify();
  await report('full-after-outside-free', after2);
  const r3 = await fillUntilError('third-after-outside-free');
  r3.verify = verify();
  r3.estimate = await est();
  await report('full-error3', r3);
  h.close();
  await report('full-done');
}

// ---------------- Q4: exclusivity helper worker ----------------
let held = null;
async function exclWorker() {
  const name = P.get('name');
  const rootP = navigator.storage.getDirectory();
  let chain = Promise.resolve();
  self.onmessage = (ev) => {
    chain = chain.then(() => handle(ev));
  };
  async function handle(ev) {
    const root = await rootP;
    const m = ev.data;
    const out = { op: m.op, name };
    try {
      if (m.op === 'open') {
        const fh = await root.getFileHandle(m.file, { create: true });
        const t0 = performance.now();
        try {
          const h = await fh.createSyncAccessHandle(m.mode ? { mode: m.mode } : undefined);
          out.ok = true;
          out.handleMode = h.mode;
          if (held) {
            out.note = 'second handle in same worker';
          }
          held = held || h;
          if (held !== h) h.close();
        } catch (e) {
          out.err = errObj(e);
        }
        out.ms = performance.now() - t0;
        out.mode = m.mode || '(default)';
      } else if (m.op === 'close') {
        if (held) held.close();
        held = null;
        out.ok = true;
      } else if (m.op === 'rw') {
        const b = new TextEncoder().encode(`hello ${name}`);
        out.write = held.write(b, { at: 0 });
        held.flush();
        const r = new Uint8Array(b.length);
        out.read = held.read(r, { at: 0 });
        out.same = new TextDecoder().decode(r) === `hello ${name}`;
        out.size = held.getSize();
        const names = [];
        for await (const [n] of root.entries()) names.push(n);
        out.rootEntries = names;
      } else if (m.op === 'poll') {
        const fh = await root.getFileHandle(m.file, { create: true });
        const t0 = performance.now();
        let tries = 0;
        for (;;) {
          tries++;
          try {
            held = await fh.createSyncAccessHandle();
            out.ok = true;
            break;
          } catch (e) {
            out.lastErr = errObj(e);
          }
          if (performance.now() - t0 > m.ms) {
            out.ok = false;
            break;
          }
          await sleep(10);
        }
        out.ms = performance.now() - t0;
        out.tries = tries;
      } else if (m.op === 'remove') {
        const t0 = performance.now();
        try {
          await root.removeEntry(m.file);
          out.ok = true;
        } catch (e) {
          out.err = errObj(e);
        }
        out.ms = performance.now() - t0;
      } else if (m.op === 'list') {
        const names = [];
        for await (const [n] of root.entries()) names.push(n);
        out.rootEntries = names;
      }
    } catch (e) {
      out.fatal = errObj(e);
    }
    await report(`excl-${m.op}`, out);
    self.postMessage(out);
  }
}

// ---------------- Q5: probe ----------------
async function probeMode() {
  const out = {
    isSecureContext: self.isSecureContext,
    hasStorage: !!navigator.storage,
    ua: navigator.userAgent,
  };
  out.hasCSAH =
    typeof FileSystemFileHandle !== 'undefined' &&
    typeof FileSystemFileHandle.prototype.createSyncAccessHandle === 'function';
  try {
    const root = await navigator.storage.getDirectory();
    const fh = await root.getFileHandle('probe.bin', { create: true });
    const h = await fh.createSyncAccessHandle();
    out.methods = ['read', 'write', 'truncate', 'flush', 'getSize', 'close'].filter(
      (k) => typeof h[k] === 'function',
    );
    out.mode = h.mode;
    h.truncate(0);
    out.w = h.write(new Uint8Array([1, 2, 3]), { at: 0 });
    h.flush();
    out.size = h.getSize();
    h.close();
    out.ok = true;
  } catch (e) {
    out.err = errObj(e);
  }
  try {
    out.estimate = await navigator.storage.estimate();
    out.persisted = await navigator.storage.persisted();
  } catch (e) {
    out.estErr = errObj(e);
  }
  await report('probe', out);
}

const modes = { kill: killMode, cost: costMode, full: fullMode, 'excl-worker': exclWorker, probe: probeMode };
(modes[MODE] || (async () => report('bad-mode', { MODE })))().catch((e) =>
  report('worker-fatal', { ...errObj(e), stack: e.stack }),
);
