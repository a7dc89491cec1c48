import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodePlatform } from '../../platform/node/index.js';
import { DeviceClient } from '../../src/client.js';
import { memoryLogger, tempDir } from '../helpers/client.js';
import { waitFor } from '../helpers/device-mqtt.js';

// The emulator runs as its own process here, so the test can freeze it (SIGSTOP): the TCP connection stays up but
// nothing answers, which is what a dead link looks like to the device. Only the keep-alive can notice that.
let emulator: ChildProcess;
let ready: {
  instance: string;
  provisioningToken: string;
  workspaceId: string;
  apiToken: string;
  caFile: string;
};
const dirs = tempDir();

beforeAll(async () => {
  emulator = spawn(
    process.execPath,
    ['dist/emulator/cli.js', '--memory', '--port', '0', '--json', '--auto-approve', '--log-level', 'silent'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  ready = JSON.parse(
    await new Promise<string>((resolve) =>
      createInterface({ input: emulator.stdout! }).once('line', resolve),
    ),
  );
});
afterAll(() => {
  emulator.kill('SIGCONT');
  emulator.kill('SIGTERM');
  dirs.cleanup();
});

function api(method: string, path: string, body?: string) {
  return fetch(`${ready.instance}/workspaces/${ready.workspaceId}${path}`, {
    method,
    headers: { authorization: `Bearer ${ready.apiToken}` },
    body,
  });
}

describe('MQTT session', () => {
  it('notices a dead link through the keep-alive, reconnects when the broker is back, and resubscribes', async () => {
    const client = await DeviceClient.startOn(
      createNodePlatform({ ca: readFileSync(ready.caFile, 'utf8') }),
      {
        provisioningToken: ready.provisioningToken,
        instance: ready.instance,
        database: dirs.file('session.db'),
        deviceId: 'keepalive',
        keepAliveSeconds: 1,
        reconnectInitialDelayMs: 100,
        reconnectMaxDelayMs: 500,
        logger: memoryLogger(),
        onProvisioningOperation: () => {},
      },
    );
    const received: string[] = [];
    client.onCloudMessage((message) => {
      received.push(message.text());
    });
    const events: string[] = [];
    client.on('connected', () => events.push('connected'));
    client.on('disconnected', () => events.push('disconnected'));
    try {
      await waitFor(() => client.connected, 5000);
      emulator.kill('SIGSTOP');
      const frozenAt = Date.now();
      await waitFor(() => !client.connected, 8000);
      const noticedAfter = Date.now() - frozenAt;
      expect(noticedAfter).toBeLessThan(6000);
      // Messages enqueued while the link is dead are kept.
      const { id } = await client.enqueueMessage('during the outage');
      emulator.kill('SIGCONT');
      await waitFor(() => client.connected, 10_000);
      await client.waitEnqueuedMessagesSent();
      const stored = (await (await api('GET', '/devices/keepalive/messages')).json()) as {
        items: { mid: string }[];
      };
      expect(stored.items.map((m: { mid: string }) => m.mid)).toContain(id);
      // The C2D subscription came back with the new connection.
      await api('POST', '/devices/keepalive/c2d-messages', 'after reconnect');
      await waitFor(() => received.includes('after reconnect'), 5000);
      expect(events.filter((e) => e === 'disconnected').length).toBeGreaterThanOrEqual(1);
    } finally {
      emulator.kill('SIGCONT');
      await client.close();
    }
  }, 40_000);
});
