// Q2: bytes written + time per record. usage: node cost.mjs <tag> [n=500] [reps=3]
import fs from 'node:fs';
import { diskstats, ioOf, killGroup, LAB, launch, perProcIo, sleep, startServer, treeOf } from './lib.mjs';

const [tag = 'a', nS = '500', repsS = '3', phases = ''] = process.argv.slice(2);
const profile = `${LAB}/profiles/cost-${tag}`;
fs.rmSync(profile, { recursive: true, force: true });
fs.mkdirSync(profile, { recursive: true });
let child, done;
const finished = new Promise((r) => (done = r));
const marks = {};
const out = [];
const snap = () => {
  const pids = treeOf(child.pid);
  return { t: Date.now(), io: ioOf(pids), per: perProcIo(pids), disk: diskstats() };
};
const diff = (a, b) => {
  const per = {};
  for (const pid of Object.keys(b.per)) {
    const x = b.per[pid],
      y = a.per[pid] || { write_bytes: 0, wchar: 0, syscw: 0 };
    const d = x.write_bytes - y.write_bytes;
    if (d || x.syscw - y.syscw)
      per[`${pid}:${x.type}`] = { write_bytes: d, wchar: x.wchar - y.wchar, syscw: x.syscw - y.syscw };
  }
  return {
    ms: b.t - a.t,
    write_bytes: b.io.write_bytes - a.io.write_bytes,
    wchar: b.io.wchar - a.io.wchar,
    syscw: b.io.syscw - a.io.syscw,
    cancelled: b.io.cancelled_write_bytes - a.io.cancelled_write_bytes,
    disk: {
      writes: b.disk.writes - a.disk.writes,
      bytes: (b.disk.sectorsWritten - a.disk.sectorsWritten) * 512,
      flushes: b.disk.flushes - a.disk.flushes,
    },
    per,
  };
};
const { srv, port } = await startServer(async (_req, url, d) => {
  if (url.pathname === '/mark') {
    const k = `${d.name}#${d.rep}`;
    if (d.edge === 'start') marks[k] = { start: snap() };
    else if (d.edge === 'end') {
      marks[k].end = snap();
      marks[k].ms = d.ms;
      marks[k].n = d.n;
    } else {
      const m = marks[k];
      m.settled = snap();
      const row = {
        phase: d.name,
        rep: d.rep,
        n: m.n,
        loopMs: m.ms,
        perRecordMs: m.ms / m.n,
        window: diff(m.start, m.end),
        lag: diff(m.end, m.settled),
      };
      out.push(row);
      console.log(
        `${d.name.padEnd(16)} rep${d.rep} n=${m.n} ${(m.ms / m.n).toFixed(3)} ms/rec  write_bytes=${row.window.write_bytes} (${(row.window.write_bytes / m.n).toFixed(0)} B/rec) wchar/rec=${(row.window.wchar / m.n).toFixed(0)} syscw=${row.window.syscw} lag_wb=${row.lag.write_bytes} | disk(all vda) ${(row.window.disk.bytes / m.n).toFixed(0)} B/rec writes=${row.window.disk.writes} flushes=${row.window.disk.flushes} | per ${JSON.stringify(row.window.per)}`,
      );
    }
    return {};
  }
  if (url.pathname === '/report') {
    console.log('report', JSON.stringify(d));
    if (/done|fatal|error/.test(d.type)) done(d);
    return {};
  }
});
child = launch(
  profile,
  [
    `http://127.0.0.1:${port}/www/page.html?mode=cost&run=${tag}&n=${nS}&reps=${repsS}${phases ? `&phases=${phases}` : ''}`,
  ],
  `${LAB}/logs/cost-${tag}.log`,
);
await Promise.race([finished, sleep(900000)]);
await killGroup(child);
fs.writeFileSync(`${LAB}/results-cost-${tag}.json`, JSON.stringify(out, null, 1));
srv.close();
process.exit(0);
