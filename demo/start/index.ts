#!/usr/bin/env node
/**
 * `npm start`: the whole technician flow on one machine. Starts the platform emulator (state kept in
 * `.spotflow-emulator/`), serves the kiosk panel from an origin of its own, and runs the Node sample device in this
 * terminal with a live status line. Ctrl-C stops everything; starting again resumes the same devices without a
 * new approval (their registrations are kept in `.spotflow-demo/` and in the browser's IndexedDB).
 *
 *   npm start -- [--port 5080] [--kiosk-port 5081] [--data-dir .spotflow-emulator] [--demo-dir .spotflow-demo]
 *                [--no-node-device] [--portal-host <this machine's LAN address>]
 *
 * `--portal-host` is for a technician approving from a phone: the emulator then listens on every interface and the
 * kiosk's QR code links to the portal at that address. The kiosk and the devices still use localhost (a page on a
 * LAN address is no secure context: no Web Locks there, and the SDK keeps plain MQTT to loopback hosts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runNodeDevice } from '../node/device.js';
import { StatusLine } from '../node/status-line.js';
import { serveKiosk } from './kiosk-server.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The built kiosk (`npm run build` puts it next to this file's output: dist/demo/kiosk). */
const kioskRoot = resolve(here, '../kiosk');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '5080' },
    'kiosk-port': { type: 'string', default: '5081' },
    'data-dir': { type: 'string', default: '.spotflow-emulator' },
    'demo-dir': { type: 'string', default: '.spotflow-demo' },
    'node-device': { type: 'boolean', default: true },
    'no-node-device': { type: 'boolean' },
    'portal-host': { type: 'string' },
  },
});

const status = new StatusLine(process.stdout);

function fail(message: string): never {
  status.end();
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(1);
}

function port(flag: 'port' | 'kiosk-port'): number {
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    fail(`--${flag} must be a port number (0 = any free)`);
  return value;
}

function inUse(error: unknown, what: string, flag: string): never {
  if ((error as { code?: unknown }).code === 'EADDRINUSE') {
    fail(
      `${what} cannot listen: the port is already in use (another \`npm start\` or emulator?). Stop it, or pick another port: npm start -- --${flag} <n>`,
    );
  }
  fail(`${what} cannot start: ${error instanceof Error ? error.message : String(error)}`);
}

async function main(): Promise<void> {
  if (!existsSync(join(kioskRoot, 'index.html')))
    fail(`the kiosk is not built (${kioskRoot}): run npm run build`);
  const { startEmulator, createLogger, isValidPublicHost } = await import('../../emulator/index.js').catch(
    (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
  );
  const portalHost = values['portal-host'];
  if (portalHost !== undefined && !isValidPublicHost(portalHost))
    fail('--portal-host must be a host name or IPv4 address that phones on your network can reach');
  const emulator = await startEmulator({
    port: port('port'),
    // Phones reach the portal on the LAN address; without --portal-host nothing listens beyond this machine.
    host: portalHost === undefined ? '127.0.0.1' : '0.0.0.0',
    dataDir: values['data-dir'],
    logger: createLogger('warn', (line) => status.print(line)),
  }).catch((error: unknown) => inUse(error, 'The emulator', 'port'));

  // The link the kiosk shows (as a QR code too): no token in it; the portal asks the technician for one.
  const portal = new URL(emulator.portalUrl);
  portal.hash = '';
  if (portalHost !== undefined) portal.hostname = portalHost;
  const kiosk = await serveKiosk(
    kioskRoot,
    { instance: emulator.instance, provisioningToken: emulator.provisioningToken, portalUrl: portal.href },
    '127.0.0.1',
    port('kiosk-port'),
  ).catch(async (error: unknown) => {
    await emulator.close();
    return inUse(error, 'The kiosk server', 'kiosk-port');
  });

  const stop = new AbortController();
  let device: Promise<void> = Promise.resolve();
  const shutdown = (signal: string) => {
    if (stop.signal.aborted) process.exit(1); // a second Ctrl-C: leave at once
    status.print(`${signal}: stopping`);
    stop.abort();
    setTimeout(() => process.exit(1), 5000).unref();
    void device
      .catch(() => {})
      .then(() => kiosk.close())
      .then(() => emulator.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));

  status.print(
    [
      '',
      'Spotflow demo is running.',
      `  Kiosk panel:  ${kiosk.url}`,
      `  Portal:       ${emulator.portalUrl}`,
      ...(portalHost === undefined
        ? []
        : [
            `  From a phone: ${portal.href}  (listening on every interface: anyone on your network can reach the emulator; its API still needs the token)`,
          ]),
      `  Instance:     ${emulator.instance}  (provisioning token ${emulator.provisioningToken})`,
      `  Workspace:    ${emulator.workspaceId}  (API token ${emulator.apiToken})`,
      '  Open the kiosk, then approve it in the portal with the code it shows. Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );

  if (values['node-device'] && !values['no-node-device']) {
    mkdirSync(values['demo-dir'], { recursive: true, mode: 0o700 });
    device = runNodeDevice({
      instance: emulator.instance,
      provisioningToken: emulator.provisioningToken,
      database: join(values['demo-dir'], 'node-device.db'),
      deviceId: 'node-1',
      portalUrl: portal.href,
      signal: stop.signal,
      status,
    });
  }
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
