// Q5: availability probe. Also checks which processes we spawn and that killGroup leaves nothing behind.
import fs from 'node:fs';
import { allProcs, killGroup, LAB, launch, sleep, startServer, treeOf } from './lib.mjs';

const profile = `${LAB}/profiles/probe-${Date.now()}`;
fs.mkdirSync(profile, { recursive: true });
let done;
const got = new Promise((r) => (done = r));
const { srv, port } = await startServer(async (_req, url, data) => {
  if (url.pathname === '/report') {
    console.log(JSON.stringify(data));
    if (data.type === 'probe' || /error|fatal/.test(data.type)) done(data);
    return {};
  }
});
const crashpadBefore = new Set(allProcs().map((p) => p.pid));
const child = launch(
  profile,
  [`http://127.0.0.1:${port}/www/page.html?mode=probe&run=probe`],
  `${LAB}/logs/probe.log`,
);
const _r = await Promise.race([got, sleep(30000).then(() => 'timeout')]);
const tree = treeOf(child.pid);
const newProcs = allProcs().filter((p) => !crashpadBefore.has(p.pid));
console.log(
  'tree',
  tree.length,
  'new procs',
  newProcs
    .map(
      (p) =>
        `${p.pid}/pg${p.pgrp}/pp${p.ppid}:` +
        fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0].split('/').pop() +
        (p.pgrp === child.pid ? '' : ' [OTHER PGRP]'),
    )
    .join(' '),
);
console.log('killed in ms', await killGroup(child));
await sleep(1000);
const left = newProcs.filter((p) => fs.existsSync(`/proc/${p.pid}`));
console.log(
  'left after kill:',
  left.map((p) => `${p.pid}:${fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0]}`),
);
srv.close();
