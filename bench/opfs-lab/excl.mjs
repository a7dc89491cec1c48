// Q4: exclusivity. Two tabs of the same origin in one browser.
import fs from 'node:fs';
import { killGroup, LAB, launch, signals, sleep, startServer } from './lib.mjs';

const profile = `${LAB}/profiles/excl-${Date.now()}`;
fs.mkdirSync(profile, { recursive: true });
const { raised: sig, finished, done, signal, wait } = signals();
const reports = [];
const { srv, port } = await startServer(async (_req, url, d) => {
  if (url.pathname === '/waitfor') {
    await wait(d.name);
    return {};
  }
  if (url.pathname === '/signal') {
    signal(d.name);
    return {};
  }
  if (url.pathname === '/report') {
    reports.push(d);
    console.log(JSON.stringify(d));
    if (/done|fatal|page-error/.test(d.type)) done();
    if (d.type === 'excl-tab2-launch')
      setTimeout(() => {
        if (!sig.tab2done) {
          console.log('tab2 never reported; falling back');
          signal('tab2done');
        }
      }, 15000);
    return {};
  }
});
const child = launch(
  profile,
  [`http://127.0.0.1:${port}/www/page.html?mode=excl-page&run=t1`],
  `${LAB}/logs/excl.log`,
);
await Promise.race([finished, sleep(60000).then(() => console.log('TIMEOUT'))]);
await killGroup(child);
fs.writeFileSync(`${LAB}/results-excl.json`, JSON.stringify(reports, null, 1));
srv.close();
process.exit(0);
