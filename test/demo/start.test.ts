// `npm start` as a new user runs it: on a fresh data directory it comes up, answers on every URL it prints, runs
// the Node sample device (approved once), resumes after a restart without a new approval, stops on SIGINT within
// 5 s, and refuses a port in use with a clear message.
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { demoRunner, demoUrls, management, type StartedDemo } from '../helpers/npm-start.js';

const demo = demoRunner();
afterEach(() => demo.killAll());
afterAll(() => demo.cleanup());
const run = (args: string[]) => demo.run(args);
const urlsOf = demoUrls;

async function stopWithSigint(started: StartedDemo): Promise<number> {
  const began = Date.now();
  started.child.kill('SIGINT');
  const { code } = await started.exited;
  expect(code).toBe(0);
  return Date.now() - began;
}

/** Runs `npm start` with `args`, which it must refuse: exit code 1, one line, no stack trace. Returns the output. */
async function refusal(args: string[]): Promise<string> {
  const started = run(args);
  const { code } = await started.exited;
  expect(code).toBe(1);
  expect(started.output()).not.toMatch(/\n\s+at /);
  return started.output();
}

async function refused(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
    () => false,
    () => true,
  );
}

describe('npm start', () => {
  it('comes up on a fresh data directory, answers on every URL, resumes after a restart, stops on SIGINT', async () => {
    const first = run(['--port', '0', '--kiosk-port', '0']);
    const urls = await urlsOf(first);
    const kiosk = await fetch(urls.kiosk);
    expect(kiosk.status).toBe(200);
    expect(await kiosk.text()).toMatch(/<html|<!doctype/i);
    const config = (await (await fetch(new URL('config.json', urls.kiosk))).json()) as Record<string, string>;
    expect(config).toMatchObject({ instance: urls.instance, portalUrl: expect.stringContaining('/portal') });
    expect(config.portalUrl).not.toContain('apiToken');
    expect((await fetch(urls.portal)).status).toBe(200);
    expect((await fetch(`${urls.instance}/provisioning-operations/init`, { method: 'POST' })).status).toBe(
      401,
    );

    // The Node sample device asks for approval once.
    const [, code] = (await first.waitFor(/Verification code: (\S+)/)) as RegExpMatchArray;
    const ops = (await (await management(urls, 'GET', '/provisioning-operations?status=pending')).json()) as {
      provisioningOperationId: string;
      verificationCode: string;
    }[];
    const operation = ops.find((op) => op.verificationCode === code)!;
    expect(operation).toBeDefined();
    const approved = await management(urls, 'PUT', '/provisioning-operations/approve', {
      provisioningOperationId: operation.provisioningOperationId,
    });
    expect(approved.status).toBe(200);
    await first.waitFor(/node-1: connected \| sent [1-9]/, 30_000);

    const stoppedIn = await stopWithSigint(first);
    expect(stoppedIn).toBeLessThan(5_000);
    expect(await refused(urls.kiosk)).toBe(true);
    expect(await refused(urls.instance)).toBe(true);

    // Again, on the same ports and directories: the same devices, no new approval.
    const again = run(['--port', new URL(urls.instance).port, '--kiosk-port', new URL(urls.kiosk).port]);
    await urlsOf(again);
    await again.waitFor(/node-1: connected \| sent [1-9]/, 30_000);
    expect(again.output()).not.toMatch(/Verification code/);
    expect(await stopWithSigint(again)).toBeLessThan(5_000);
  }, 120_000);

  it('refuses a port in use with one clear line, not a stack trace', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      expect(await refusal(['--port', String(port), '--kiosk-port', '0', '--no-node-device'])).toMatch(
        /already in use/,
      );
    } finally {
      busy.close();
    }
  });

  it('with --portal-host, links the kiosk to the portal at that address, where it answers with the API behind it', async () => {
    const started = run([
      '--port',
      '0',
      '--kiosk-port',
      '0',
      '--no-node-device',
      '--portal-host',
      '127.0.0.2',
    ]);
    const urls = await urlsOf(started);
    const config = (await (await fetch(new URL('config.json', urls.kiosk))).json()) as Record<string, string>;
    const portal = new URL(config.portalUrl!);
    expect(portal.hostname).toBe('127.0.0.2');
    expect(portal.port).toBe(new URL(urls.instance).port);
    expect(started.output()).toContain(`From a phone: ${portal.href}`);
    // The devices' side stays on localhost; the phone's side answers on the LAN address.
    expect(config.instance).toBe(urls.instance);
    expect((await fetch(portal)).status).toBe(200);
    const operations = await fetch(
      `${portal.origin}/workspaces/${urls.workspaceId}/provisioning-operations`,
      {
        headers: { authorization: `Bearer ${urls.apiToken}` },
      },
    );
    expect(operations.status).toBe(200);
    expect(await stopWithSigint(started)).toBeLessThan(5_000);
  });

  it('refuses a --portal-host that is no host name or address', async () => {
    const output = await refusal([
      '--port',
      '0',
      '--kiosk-port',
      '0',
      '--no-node-device',
      '--portal-host',
      'x/',
    ]);
    expect(output).toMatch(/--portal-host must be a host name or IPv4 address/);
  });
});
