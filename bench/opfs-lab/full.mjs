// Q3: full disk. usage: node full.mjs <tag> <ballastBeforeMB> <fillAfterStart:0|1> [sizeMB=48]

import { execSync } from 'node:child_process';
import fs from 'node:fs';
import { killGroup, LAB, launch, signals, sleep, startServer } from './lib.mjs';

const [tag, ballastMB = '8', fillAfter = '0', sizeMB = '48'] = process.argv.slice(2);
const MNT = '/tmp/opfs-full';
fs.mkdirSync(MNT, { recursive: true });
execSync(`mount -t tmpfs -o size=${sizeMB}m tmpfs ${MNT}`);
const df = () => execSync(`df -B1 --output=size,used,avail ${MNT} | tail -1`).toString().trim();
let child;
try {
  const profile = `${MNT}/profile`;
  fs.mkdirSync(profile);
  const ballast = `${MNT}/ballast.bin`;
  if (Number(ballastMB)) fs.writeFileSync(ballast, Buffer.alloc(Number(ballastMB) << 20, 1));
  console.log('df before launch', df());
  const { finished, done, signal, wait } = signals();
  const { srv, port } = await startServer(async (_req, url, d) => {
    if (url.pathname === '/waitfor') {
      await wait(d.name);
      return {};
    }
    if (url.pathname === '/report') {
      console.log('report', JSON.stringify(d), '| df', df());
      if (d.type === 'full-start') {
        if (fillAfter === '1') {
          // fill the tmpfs from outside until ~6 MiB remain
          const avail = Number(df().split(/\s+/)[2]);
          const extra = Math.max(0, avail - (6 << 20));
          fs.writeFileSync(`${MNT}/ballast2.bin`, Buffer.alloc(extra, 2));
          console.log('outside fill added', extra, 'df', df());
        }
        setTimeout(() => signal('go'), 200);
      }
      if (d.type === 'full-error2')
        setTimeout(() => {
          for (const f of ['ballast.bin', 'ballast2.bin']) fs.rmSync(`${MNT}/${f}`, { force: true });
          console.log('freed ballast, df', df());
          signal('freed');
        }, 200);
      if (/done|fatal/.test(d.type)) done();
      return {};
    }
  });
  child = launch(
    profile,
    [`http://127.0.0.1:${port}/www/page.html?mode=full&run=${tag}`],
    `${LAB}/logs/full-${tag}.log`,
  );
  await Promise.race([finished, sleep(180000).then(() => console.log('TIMEOUT'))]);
  console.log(
    'du of OPFS dir:',
    execSync(`du -sb ${profile}/Default/File\\ System 2>/dev/null || true`).toString().trim(),
  );
  await killGroup(child);
  child = null;
  srv.close();
} finally {
  if (child) await killGroup(child);
  await sleep(300);
  execSync(`umount ${MNT}`);
  console.log('unmounted');
}
const log = fs
  .readFileSync(`${LAB}/logs/full-${tag}.log`, 'utf8')
  .split('\n')
  .filter((l) => /quota|space|ENOSPC|No space|error|fail/i.test(l))
  .slice(0, 40);
console.log(`chromium log hits:\n${log.join('\n')}`);
process.exit(0);
