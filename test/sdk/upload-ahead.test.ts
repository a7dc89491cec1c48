/**
 * A large payload's upload overlaps its durable write: the blob goes up while the enqueue is being committed, and
 * the message linking to it only once the commit is done. The write of the large message is held by a wrapper around
 * the real database (released by the upload's progress events), so the overlap is shown by events, not by timing.
 */
import { describe, expect, it } from 'vitest';
import type { UploadProgress } from '../../src/outbox/upload.js';
import type { Database, Platform, SqlStatement } from '../../src/ports.js';
import { startClient } from '../helpers/client.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-upload-ahead-');
const big = () => Buffer.alloc(1_500_000, 9);

/** Holds each write that stores a payload of more than 1 MB until the test settles it. */
function holdingLargeInserts(held: (release: (fail?: Error) => void) => void) {
  const isLarge = (statements: readonly SqlStatement[]) =>
    statements.some((s) => s.params?.some((p) => p instanceof Uint8Array && p.length > 1_000_000));
  return (platform: Platform): Platform => ({
    ...platform,
    database: {
      async open(name) {
        const db = await platform.database.open(name);
        const wrapped: Database = {
          write: async (statements, options) => {
            if (isLarge(statements)) {
              await new Promise<void>((resolve, reject) => held((fail) => (fail ? reject(fail) : resolve())));
            }
            return db.write(statements, options);
          },
          query: (sql, params) => db.query(sql, params),
          close: () => db.close(),
        };
        return wrapped;
      },
    },
  });
}

/** Resolves at the first progress event that reports every byte sent; rejects after `ms`. */
function uploaded(
  client: { on: (event: 'uploadProgress', l: (p: UploadProgress) => void) => void },
  ms = 20_000,
) {
  return new Promise<UploadProgress>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the upload did not finish within ${ms} ms`)), ms);
    client.on('uploadProgress', (progress) => {
      if (progress.sentBytes < progress.totalBytes) return;
      clearTimeout(timer);
      resolve(progress);
    });
  });
}

/**
 * A connected client whose large writes are held, with a large enqueue started and its upload finished: the state
 * both tests start from. `release` lets the held write go on, or fails it.
 */
async function largeEnqueueHeldAfterUpload(deviceId: string) {
  let release: ((fail?: Error) => void) | undefined;
  const client = await startClient(bed.emulator, {
    database: bed.dirs.file(`${deviceId}.db`),
    deviceId,
    wrapPlatform: holdingLargeInserts((r) => {
      release = r;
    }),
  });
  // Uploads go ahead only while the sender runs on a connection (the blob's SAS comes with its credentials): a
  // message sent proves it does.
  const first = await client.sendMessage({ first: true });
  const done = uploaded(client);
  const enqueue = client.enqueueMessage(big());
  enqueue.catch(() => {});
  // The write is held until the test releases it: the whole blob went up meanwhile.
  const progress = await done;
  if (release === undefined) throw new Error('the large write was not held');
  return { client, first, enqueue, progress, release };
}

const mids = async (deviceId: string) =>
  (await bed.emulator.api.allMessages(deviceId)).map((m: { mid: string }) => m.mid);

describe('a large payload uploads while its enqueue is made durable', () => {
  it('has its blob up before the write commits, and the linked message arrives after', async () => {
    const { client, first, enqueue, progress, release } = await largeEnqueueHeldAfterUpload('ahead');
    try {
      expect(progress.totalBytes).toBe(1_500_000);
      expect(await mids('ahead')).toEqual([first.id]);
      release();
      const { id } = await enqueue;
      await client.waitEnqueuedMessagesSent();
      const [, stored] = await bed.emulator.api.allMessages('ahead');
      expect(stored.mid).toBe(id);
      expect(stored.properties['has-externalized-payload']).toBe('true');
      expect(Buffer.from(stored.payloadBase64, 'base64').equals(big())).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('sends nothing for an enqueue whose write fails after its blob went up', async () => {
    const { client, first, enqueue, release } = await largeEnqueueHeldAfterUpload('ahead-failed');
    try {
      // A refused write, made by the wrapper: a real one (a full disk) is in the reliability suite.
      release(new Error('refused by the test'));
      await expect(enqueue).rejects.toThrow();
      const after = await client.sendMessage({ after: true });
      expect(await mids('ahead-failed')).toEqual([first.id, after.id]);
    } finally {
      await client.close();
    }
  });
});
