/**
 * Starting the emulator: the public host name (URL, iotHubHostName, certificate), the workspace id rules, settings
 * given for one run versus stored ones, and a failed start that leaves nothing behind.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../emulator/index.js';
import {
  ManagementClient,
  provisionDevice,
  startTestEmulator,
  type TestEmulator,
} from '../helpers/emulator.js';

const dirs: string[] = [];
function freshDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The emulator as reached over 127.0.0.1 (its public host may not resolve here). */
function overLoopback(emulator: TestEmulator): TestEmulator {
  const local = Object.assign(Object.create(emulator) as TestEmulator, {
    instance: `http://127.0.0.1:${emulator.port}`,
  });
  local.api = new ManagementClient(local);
  return local;
}

/** Completes a TLS handshake with the emulator, checking its certificate for `name` against its CA. */
function handshakeFor(emulator: TestEmulator, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: emulator.port,
      ca: emulator.ca,
      checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
    });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

describe('--public-host', () => {
  it('puts the public host in the instance URL, iotHubHostName and the certificate, keeping the CA', async () => {
    const dataDir = freshDir('emulator-public-host-');
    const first = await startTestEmulator({ memory: false, dataDir });
    const ca = first.ca;
    try {
      expect(first.instance).toBe(`http://localhost:${first.port}`);
      await expect(handshakeFor(first, 'emulator.test')).rejects.toThrow(/emulator\.test/);
    } finally {
      await first.close();
    }

    const second = await startTestEmulator({
      memory: false,
      dataDir,
      publicHost: 'emulator.test',
      tls: true,
    });
    try {
      expect(second.instance).toBe(`https://emulator.test:${second.port}`);
      expect(second.portalUrl.startsWith(`https://emulator.test:${second.port}/portal#`)).toBe(true);
      expect(second.ca).toBe(ca);
      await handshakeFor(second, 'emulator.test');
      await handshakeFor(second, 'localhost');
      const device = await provisionDevice(overLoopback(second), 'far-away');
      expect(device.iotHubHostName).toBe(`emulator.test:${second.port}`);
      expect(device.connectionString).toContain(`HostName=emulator.test:${second.port};`);
    } finally {
      await second.close();
    }
  });

  it('takes an IPv4 address, and makes a new CA for a data directory that never kept its CA key', async () => {
    const dataDir = freshDir('emulator-public-ip-');
    const first = await startTestEmulator({ memory: false, dataDir });
    await first.close();
    rmSync(join(dataDir, 'tls', 'ca.key'));
    const second = await startTestEmulator({ memory: false, dataDir, publicHost: '10.11.12.13' });
    try {
      expect(second.instance).toBe(`http://10.11.12.13:${second.port}`);
      expect(second.ca).not.toBe(first.ca);
      await handshakeFor(second, '10.11.12.13');
    } finally {
      await second.close();
    }
  });

  it.each(['has space', 'under_score.example', '-leading', 'a/b', ''])('refuses %j', async (publicHost) => {
    await expect(startTestEmulator({ publicHost })).rejects.toThrow(/public host/);
  });
});

describe('workspace id', () => {
  it.each(['has space', 'a:b', 'x'.repeat(65), 'slash/y'])('refuses %j', async (workspaceId) => {
    await expect(startTestEmulator({ workspaceId })).rejects.toThrow(/workspace id/);
  });

  it('keeps the workspace id of a data directory and refuses another one with a clear error', async () => {
    const dataDir = freshDir('emulator-workspace-id-');
    const first = await startTestEmulator({ memory: false, dataDir, workspaceId: 'ws_one-1' });
    expect(first.workspaceId).toBe('ws_one-1');
    await first.close();
    await expect(startTestEmulator({ memory: false, dataDir, workspaceId: 'ws-two' })).rejects.toThrow(
      /belongs to workspace ws_one-1/,
    );
    const again = await startTestEmulator({ memory: false, dataDir });
    expect(again.workspaceId).toBe('ws_one-1');
    await again.close();
  });
});

describe('settings given for one run', () => {
  it('apply while the emulator runs but are not stored; PATCH /settings is stored', async () => {
    const dataDir = freshDir('emulator-run-settings-');
    const settingsOf = async (emulator: TestEmulator) =>
      (await emulator.api.request('GET', '/settings')).body;

    const first = await startTestEmulator({
      memory: false,
      dataDir,
      settings: { autoApprove: true, sasTokenLifetimeSeconds: 60 },
    });
    expect(await settingsOf(first)).toMatchObject({ autoApprove: true, sasTokenLifetimeSeconds: 60 });
    await first.close();

    const second = await startTestEmulator({ memory: false, dataDir });
    expect(await settingsOf(second)).toMatchObject({ autoApprove: false, sasTokenLifetimeSeconds: 3600 });
    expect((await second.api.settings({ autoApprove: true })).status).toBe(200);
    await second.close();

    const third = await startTestEmulator({ memory: false, dataDir, settings: { autoApprove: false } });
    expect(await settingsOf(third)).toMatchObject({ autoApprove: false });
    await third.api.settings({ sasTokenLifetimeSeconds: 120 });
    await third.close();

    const fourth = await startTestEmulator({ memory: false, dataDir });
    expect(await settingsOf(fourth)).toMatchObject({ autoApprove: true, sasTokenLifetimeSeconds: 120 });
    await fourth.close();
  });

  it('refuses settings no workspace may have', async () => {
    await expect(startTestEmulator({ settings: { sasTokenLifetimeSeconds: 0 } })).rejects.toThrow(
      /sasTokenLifetimeSeconds/,
    );
  });
});

describe('a start that fails', () => {
  it('removes the temporary directory of --memory (with its TLS key)', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const privateTmp = freshDir('emulator-failed-start-');
    const realTmp = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    try {
      await expect(startEmulator({ memory: true, port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      if (realTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = realTmp;
      await new Promise((resolve) => blocker.close(resolve));
    }
    expect(readdirSync(privateTmp)).toEqual([]);
  });
});
