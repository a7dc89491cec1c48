#!/usr/bin/env node
// Acceptance run of the Node SDK, using only the package's public API: starts the emulator in its own process,
// provisions a device (approving it through the management API), sends 10,000 messages in batches with mixed
// compression plus one file upload, forces a disconnect halfway, and checks the emulator holds every message.
// Prints figures; exits non-zero if anything is missing.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DeviceClient, isSpotflowError } from 'spotflow-device';

const total = Number(process.env.MESSAGES ?? 10_000);
const batchSize = 100;
const concurrency = 64;
const dir = mkdtempSync(join(tmpdir(), 'spotflow-acceptance-'));

const emulator = spawn(
  process.execPath,
  ['dist/emulator/cli.js', '--memory', '--port', '0', '--json', '--log-level', 'warn'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const ready = JSON.parse(
  await new Promise((resolve) => createInterface({ input: emulator.stdout }).once('line', resolve)),
);
const api = (method, path, body) =>
  fetch(`${ready.instance}/workspaces/${ready.workspaceId}${path}`, {
    method,
    headers: { authorization: `Bearer ${ready.apiToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

let failed = false;
try {
  const client = await DeviceClient.start({
    provisioningToken: ready.provisioningToken,
    instance: ready.instance,
    database: join(dir, 'device.db'),
    deviceId: 'acceptance-device',
    ca: readFileSync(ready.caFile, 'utf8'),
    provisioningPollIntervalMs: 100,
    onProvisioningOperation: async (operation) => {
      console.log(`provisioning: code ${operation.verificationCode}, approving through the management API`);
      await api('PUT', '/provisioning-operations/approve', { provisioningOperationId: operation.id });
    },
  });
  client.on('error', (error) => console.log(`background: ${error.code} ${error.message}`));
  let disconnects = 0;
  client.on('disconnected', () => disconnects++);
  let uploadedBytes = 0;
  client.on('uploadProgress', (p) => {
    uploadedBytes = p.sentBytes;
  });

  const compressions = (process.env.COMPRESSIONS ?? 'none,fastest,smallest').split(',');
  const sample = JSON.stringify({ temperature: 21.5, humidity: 40, note: 'x'.repeat(400) });
  const ids = new Set();
  let next = 0;
  let dropped = false;
  const started = performance.now();
  // 64 concurrent callers, each awaiting durable enqueues (group commit turns them into shared transactions).
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const batch = Math.floor(i / batchSize);
        const { id } = await client.enqueueMessage(sample, {
          streamGroup: 'acceptance',
          stream: 'telemetry',
          batchId: `batch-${batch}`,
          messageId: `m-${i}`,
          compression: compressions[i % 3],
        });
        ids.add(id);
        if (!dropped && i >= total / 2) {
          dropped = true;
          await api('DELETE', '/devices/acceptance-device/connection');
        }
      }
    }),
  );
  const enqueued = performance.now();
  for (let batch = 0; batch < total / batchSize; batch++) {
    await client.enqueueBatchCompletion({
      streamGroup: 'acceptance',
      stream: 'telemetry',
      batchId: `batch-${batch}`,
    });
  }
  const big = randomBytes(1_000_000);
  const upload = await client.enqueueMessage(big, {
    streamGroup: 'acceptance',
    stream: 'files',
    compression: 'fastest',
  });
  await client.waitEnqueuedMessagesSent();
  const delivered = performance.now();
  await client.close();

  // What the emulator holds.
  const seen = new Map();
  let after = 0;
  let duplicates = 0;
  for (;;) {
    const page = await (
      await api('GET', `/devices/acceptance-device/messages?limit=1000&after=${after}`)
    ).json();
    for (const item of page.items) {
      if (item.duplicate) duplicates++;
      else seen.set(item.mid, item);
    }
    if (page.next === null) break;
    after = page.next;
  }
  const missing = [...ids].filter((id) => !seen.has(id));
  const file = seen.get(upload.id);
  const fileOk = file !== undefined && Buffer.from(file.payloadBase64, 'base64').equals(big);
  const batches = await (await api('GET', '/devices/acceptance-device/batches')).json();
  const completed = batches.filter((b) => b.completedAt !== null).length;

  const seconds = (ms) => (ms / 1000).toFixed(2);
  console.log(
    `enqueued ${total} messages with ${concurrency} concurrent callers in ${seconds(enqueued - started)} s: ${Math.round(total / ((enqueued - started) / 1000))} msg/s durable`,
  );
  console.log(
    `all ${seen.size} delivered ${seconds(delivered - started)} s after the first enqueue: ${Math.round(seen.size / ((delivered - started) / 1000))} msg/s end to end`,
  );
  console.log(
    `forced disconnects survived: ${disconnects}; duplicates flagged by the emulator: ${duplicates}`,
  );
  console.log(
    `file upload: ${fileOk ? 'payload intact' : 'MISSING OR DAMAGED'} (${uploadedBytes} bytes uploaded); batches completed: ${completed}/${total / batchSize}`,
  );
  if (missing.length > 0 || !fileOk || completed !== total / batchSize || disconnects < 1) {
    failed = true;
    console.log(`FAILED: ${missing.length} messages missing`);
  } else {
    console.log('ACCEPTANCE PASSED');
  }
} catch (error) {
  failed = true;
  console.log(`FAILED: ${isSpotflowError(error) ? `${error.code} ${error.message}` : error}`);
} finally {
  emulator.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
