// Case 8. Bundle sizes (gzip -9 of vite's output): the SDK's own browser code (its dependencies left out) and the
// default bundle a kiosk app gets (entry + database worker, everything included; Brotli stays a lazy chunk), against
// MQTT.js's browser bundle alone built by the same vite. Sizes are deterministic: one build each.
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { userApp } from '../lib/browser.mjs';
import { row } from '../lib/harness.mjs';

export const name = 'bundle';
export const description =
  'bundle sizes (vite, gzip -9): SDK own code and default bundle vs MQTT.js browser bundle';

const html = '<!doctype html><script type="module" src="./main.js"></script>\n';
const kb = (buffers) => gzipSync(Buffer.concat(buffers), { level: 9 }).byteLength / 1024;

export async function run({ dir }) {
  const sdk = userApp(join(dir, 'sdk'), {
    'index.html': html,
    'main.js':
      "import { DeviceClient } from 'spotflow-device';\nglobalThis.start = (options) => DeviceClient.start(options);\n",
  });
  const full = await sdk(join(dir, 'sdk', 'out'));
  const own = await sdk(join(dir, 'sdk', 'own'), ['mqtt', 'sql.js', 'brotli-wasm']);
  const mqtt = await userApp(
    join(dir, 'mqtt'),
    {
      'index.html': html,
      'main.js':
        "import mqtt from 'mqtt';\nglobalThis.connect = (url, options) => mqtt.connectAsync(url, options);\n",
    },
    ['mqtt'],
  )(join(dir, 'mqtt', 'out'));

  const js = (files, pick = () => true) =>
    [...files].filter(([file]) => file.endsWith('.js') && pick(file)).map(([, bytes]) => bytes);
  const names = [...full.keys()];
  const entry = names.find((file) => file.startsWith('index-') && file.endsWith('.js'));
  const worker = names.find((file) => file.startsWith('database-worker') && file.endsWith('.js'));
  const wasm = (pattern) => names.filter((file) => pattern.test(file)).map((file) => full.get(file));
  const baseline = kb(js(mqtt));
  const baselineName = "MQTT.js's browser bundle alone (same vite build)";
  const common = { caseName: name, unit: 'kB gzip', digits: 1 };
  return [
    row({ ...common, name: "the SDK's own browser code", ours: kb(js(own)), baseline, baselineName }),
    row({
      ...common,
      name: 'default bundle JS (entry + database worker)',
      ours: kb([full.get(entry), full.get(worker)]),
      baseline,
      baselineName,
    }),
    row({ ...common, name: 'sql.js wasm (fetched by the worker)', ours: kb(wasm(/^sql-wasm.*\.wasm$/)) }),
    row({
      ...common,
      name: 'lazy Brotli (JS + wasm, only when a message asks for compression)',
      ours: kb([...js(full, (file) => file !== entry && file !== worker), ...wasm(/brotli.*\.wasm$/)]),
    }),
  ];
}
