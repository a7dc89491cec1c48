// Q1: whole-browser SIGKILL rounds. usage: node kill.mjs <name> <len> <rounds> [batch=1] [flush=1] [idb=1] [opfs=1]
import fs from 'node:fs';
import { killGroup, LAB, launch, sleep, startServer } from './lib.mjs';

const [name, lenS, roundsS, batchS = '1', flushS = '1', idbS = '1', opfsS = '1'] = process.argv.slice(2);
const LEN = Number(lenS),
  ROUNDS = Number(roundsS);
const profile = `${LAB}/profiles/kill-${name}`;
fs.rmSync(profile, { recursive: true, force: true });
fs.mkdirSync(profile, { recursive: true });
const logDir = `${LAB}/logs/kill-${name}`;
fs.rmSync(logDir, { recursive: true, force: true });
fs.mkdirSync(logDir, { recursive: true });
const S = { opfsRanges: [], idbRanges: [], maxSeq: 0 }; // ranges [a,b] of seqs reported durable (flushed / committed)
const lastB = (r) => (r.length ? r[r.length - 1][1] : 0);
let round = -1,
  verified,
  appending,
  _killAt = null;
const events = [];
const { srv, port } = await startServer(async (_req, url, d) => {
  if (!d || String(d.run) !== String(round)) return {};
  switch (url.pathname) {
    case '/state':
      return S;
    case '/verified':
      verified(d);
      return {};
    case '/appending':
      appending(d);
      return {};
    case '/progress':
      if (d.opfs != null && S.opfsRanges.length) {
        const r = S.opfsRanges.at(-1);
        r[1] = Math.max(r[1], d.opfs);
        S.maxSeq = Math.max(S.maxSeq, d.opfs);
      }
      if (d.idb != null && S.idbRanges.length) {
        const r = S.idbRanges.at(-1);
        r[1] = Math.max(r[1], d.idb);
        S.maxSeq = Math.max(S.maxSeq, d.idb);
      }
      return {};
    case '/report':
      events.push({ round, ...d });
      console.log('report', round, JSON.stringify(d).slice(0, 300));
      return {};
  }
});
const rows = [];
for (round = 0; round < ROUNDS; round++) {
  const pV = new Promise((r) => (verified = r)),
    pA = new Promise((r) => (appending = r));
  const logFile = `${logDir}/round-${String(round).padStart(3, '0')}.log`;
  const expect = JSON.parse(JSON.stringify(S));
  const t0 = Date.now();
  const child = launch(
    profile,
    [
      `http://127.0.0.1:${port}/www/page.html?mode=kill&run=${round}&len=${LEN}&batch=${batchS}&flush=${flushS}&idb=${idbS}&opfs=${opfsS}`,
    ],
    logFile,
  );
  const v = await Promise.race([pV, sleep(60000).then(() => null)]);
  const row = { round, expect, startMs: Date.now() - t0 };
  if (!v) {
    row.hang = true;
    console.log('round', round, 'HANG (no verify in 60s)');
  } else {
    row.v = v;
    if (v.opfs.reset) S.opfsRanges = [];
    if (v.idb.reset) S.idbRanges = [];
    S.opfsRanges.push([v.next, v.next - 1]);
    S.idbRanges.push([v.next, v.next - 1]);
    S.maxSeq = Math.max(S.maxSeq, v.next - 1);
    const a = await Promise.race([pA, sleep(20000).then(() => null)]);
    if (a) {
      const delay = 100 + Math.random() * 2400;
      row.killDelayMs = Math.round(delay);
      await sleep(delay);
    }
  }
  const before = v ? v.next - 1 : lastB(S.opfsRanges);
  row.killMs = await killGroup(child);
  await sleep(200);
  row.progressAtKill = {
    opfs: lastB(S.opfsRanges),
    idb: lastB(S.idbRanges),
    appendedOpfs: lastB(S.opfsRanges) - before,
  };
  const log = fs.readFileSync(logFile, 'utf8');
  row.logHits = log
    .split('\n')
    .filter((l) => /corrupt|recover|backing store|Unknown corruption|leveldb/i.test(l))
    .map((l) => l.slice(0, 300));
  rows.push(row);
  const o = v?.opfs || {},
    i = v?.idb || {};
  console.log(
    `round ${round}: opfs size=${o.size} recs=${o.count} stop=${o.stop} tail=${o.tail} missing=${o.missing} fileMissing=${!!o.fileMissing} reset=${!!o.reset} | idb count=${i.count} missing=${i.missing} bad=${i.bad} oldV=${i.oldVersion} openErr=${i.openErrors?.length} reset=${!!i.reset} | expect opfs ${expect.opfsRanges[0]?.[0]}..${lastB(expect.opfsRanges)} idb ${expect.idbRanges[0]?.[0]}..${lastB(expect.idbRanges)} (${expect.idbRanges.length} ranges) appended=${row.progressAtKill.appendedOpfs} | kill@${row.killDelayMs} logHits=${row.logHits.length}`,
  );
  fs.writeFileSync(
    `${LAB}/results-kill-${name}.json`,
    JSON.stringify(
      { name, LEN, batch: batchS, flush: flushS, idb: idbS, opfs: opfsS, rows, events },
      null,
      1,
    ),
  );
}
srv.close();
process.exit(0);
