import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClient, tempDir } from '../helpers/client.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
const dirs = tempDir();

beforeAll(async () => {
  emulator = await startTestEmulator({ settings: { autoApprove: true } });
});
afterAll(async () => {
  await emulator.close();
  dirs.cleanup();
});

describe('messaging end to end', () => {
  it('provisions, sends messages with their properties and completions, and the emulator has them all', async () => {
    const client = await startClient(emulator, { database: dirs.file('m1.db'), deviceId: 'messenger' });
    try {
      expect(client.deviceId).toBe('messenger');
      expect(client.workspaceId).toBe(emulator.workspaceId);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { id } = await client.enqueueMessage(
          { i },
          {
            streamGroup: 'sg',
            stream: 'temps',
            batchId: 'b1',
            batchSliceId: `s${i % 2}`,
            messageId: `m${i}`,
            siteId: 'site 1',
          },
        );
        ids.push(id);
      }
      await client.enqueueBatchCompletion({ streamGroup: 'sg', stream: 'temps', batchId: 'b1' });
      await client.waitEnqueuedMessagesSent();
      expect(await client.pendingMessagesCount()).toBe(0);
      const { items } = await emulator.api.messages('messenger', '?limit=1000');
      expect(items).toHaveLength(21);
      expect(items.slice(0, 20).map((m: any) => m.mid)).toEqual(ids);
      expect(items[3]).toMatchObject({
        streamGroup: 'sg',
        stream: 'temps',
        batchId: 'b1',
        batchSliceId: 's1',
        messageId: 'm3',
        siteId: 'site 1',
        duplicate: false,
      });
      expect(JSON.parse(Buffer.from(items[3].payloadBase64, 'base64').toString())).toEqual({ i: 3 });
      expect(items[20].properties).toMatchObject({ 'complete-batch': 'true', 'ignore-payload': 'true' });
    } finally {
      await client.close();
    }
  });
});
