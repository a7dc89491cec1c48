import { describe, expect, it } from 'vitest';
import { createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import { FileUploader } from '../../src/outbox/upload.js';
import { memoryLogger, startClient } from '../helpers/client.js';
import { realClock } from '../helpers/clock.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { emulatorPerFile } from '../helpers/test-bed.js';

const bed = emulatorPerFile('spotflow-sdk-');
const { dirs } = bed;

describe('messaging end to end', () => {
  it('provisions, sends messages with their properties and completions, and the emulator has them all', async () => {
    const client = await startClient(bed.emulator, { database: dirs.file('m1.db'), deviceId: 'messenger' });
    try {
      expect(client.deviceId).toBe('messenger');
      expect(client.workspaceId).toBe(bed.emulator.workspaceId);
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
      const { items } = await bed.emulator.api.messages('messenger', '?limit=1000');
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

describe('transports', () => {
  it.each([
    ['TLS (mqtts + https)', 'tcp'],
    ['WebSocket over TLS (wss + https)', 'websocket'],
  ] as const)(
    'delivers messages and a file upload over %s, verifying the emulator CA',
    async (_name, transport) => {
      const secure = await startTestEmulator({ tls: true, settings: { autoApprove: true } });
      const deviceId = `secure-${transport}`;
      const client = await startClient(secure, {
        database: dirs.file(`${deviceId}.db`),
        deviceId,
        transport,
      });
      try {
        expect(secure.instance).toMatch(/^https:/);
        const small = await client.sendMessage({ over: transport });
        const big = await client.sendMessage(Buffer.alloc(2_000_000, 7));
        const stored = await secure.api.allMessages(deviceId);
        expect(stored.map((m: any) => m.mid)).toEqual([small.id, big.id]);
        expect(stored[1].properties['has-externalized-payload']).toBe('true');
        expect(Buffer.from(stored[1].payloadBase64, 'base64').equals(Buffer.alloc(2_000_000, 7))).toBe(true);
      } finally {
        await client.close();
        await secure.close();
      }
    },
  );

  it('refuses the emulator over TLS without its CA: start rejects with TLS naming the host, not retried', async () => {
    const secure = await startTestEmulator({ tls: true, settings: { autoApprove: true } });
    try {
      const logger = memoryLogger();
      // No CA anywhere: neither the platform's fetch nor MQTT trusts the emulator's certificate. No signal
      // either: a start that retried this as NETWORK would never settle (the bound is the test's timeout).
      const failure = await DeviceClient.startOn(createNodePlatform(), {
        provisioningToken: secure.provisioningToken,
        instance: secure.instance,
        database: dirs.file('untrusted.db'),
        deviceId: 'untrusted',
        logger,
        onProvisioningOperation: () => {},
      }).catch((error: unknown) => error);
      expect(secure.instance).toMatch(/^https:/);
      expect(failure).toMatchObject({
        code: 'TLS',
        message: expect.stringContaining(new URL(secure.instance).host),
      });
      // Refused at the first attempt: nothing was retried.
      expect(logger.lines.filter((line) => line.includes('retrying'))).toEqual([]);
    } finally {
      await secure.close();
    }
  });

  it('an upload to a host whose certificate cannot be verified fails with TLS naming the host, no SAS in it', async () => {
    const secure = await startTestEmulator({ tls: true });
    try {
      const host = new URL(secure.instance).host;
      // The platform's fetch would trust the emulator's CA; this one (Node's own) does not.
      const uploader = new FileUploader(secure.instance, fetch, realClock());
      const failure = await uploader
        .upload(
          {
            hostName: host,
            hubDeviceId: 'ws:dev',
            workspaceId: 'ws',
            deviceId: 'dev',
            sasToken: 'SharedAccessSignature sr=x&sig=SECRET-SIGNATURE&se=1',
            sasExpiresAt: new Date(Date.UTC(2030, 0, 1)),
          },
          'mid',
          new Uint8Array(300_000),
          () => {},
        )
        .catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'TLS', message: expect.stringContaining(`the hub ${host}`) });
      expect(String((failure as Error).message)).not.toContain('SECRET-SIGNATURE');
    } finally {
      await secure.close();
    }
  });
});
