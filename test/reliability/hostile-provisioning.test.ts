/**
 * A hostile provisioning API, met by a real client in a child process: malformed JSON, missing fields, wrong types,
 * HTML, an endless 500, a body that never ends, a 50 MB body, and problem titles that reflect the request's
 * Authorization header (at init, and at register with a registration token the server handed out). Each start ends
 * with a typed error within its deadline, and no token appears anywhere in the child's stdout or stderr (its log
 * lines and the error as an application prints it). The server is a stand-in: the emulator cannot misbehave.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './harness.js';

const provisioningToken = 'PROVISIONING-TOKEN/hostile+7d1e2f9a=';
const registrationToken = 'REGISTRATION-TOKEN/hostile+4b8c6d0e=';
const secrets = [provisioningToken, registrationToken];
const forms = secrets.flatMap((secret) => [secret, encodeURIComponent(secret)]);

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

const json =
  (status: number, body: unknown, type = 'application/json'): Handler =>
  (_, response) => {
    response.writeHead(status, { 'content-type': type });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
const reflect =
  (status: number): Handler =>
  (request, response, body) => {
    response.writeHead(status, { 'content-type': 'application/problem+json' });
    response.end(JSON.stringify({ status, title: `bad token ${request.headers.authorization} for ${body}` }));
  };
const operation = json(200, {
  provisioningOperationId: 'op-1',
  verificationCode: 'ABC123',
  expirationTime: new Date(Date.now() + 3_600_000).toISOString(),
});

interface Scenario {
  name: string;
  /** Handlers by the last segment of the path (init, complete, register, refresh). */
  routes: Record<string, Handler>;
  /** The code start() must reject with. */
  code: string;
  /** start() gives up after this (the caller's signal). */
  startTimeoutMs: number;
  /** start() must have ended by then. */
  boundMs: number;
  /** The message must contain this. */
  message?: RegExp;
  /** A log line that must appear by a time (e.g. the call's deadline). */
  logged?: { text: RegExp; byMs: number };
}

const scenarios: Scenario[] = [
  {
    name: 'malformed-json',
    routes: { init: json(200, '{"provisioningOperationId": "op-1", "verif') },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /not JSON/,
  },
  {
    name: 'missing-fields',
    routes: { init: json(200, {}) },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /no valid provisioningOperationId/,
  },
  {
    name: 'wrong-types',
    routes: { init: json(200, { provisioningOperationId: 42, verificationCode: true, expirationTime: [] }) },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
  },
  {
    name: 'html',
    routes: { init: json(200, '<html><body>Sign in to the Wi-Fi</body></html>', 'text/html') },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /not JSON/,
  },
  {
    name: 'endless-500',
    routes: { init: reflect(500) },
    code: 'TIMEOUT',
    startTimeoutMs: 4000,
    boundMs: 4000 + 3000,
    logged: { text: /Platform not reachable; retrying/, byMs: 3000 },
  },
  {
    name: 'never-ending-body',
    routes: {
      init: (_, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"provisioningOperationId": "op-1", ');
      },
    },
    code: 'TIMEOUT',
    startTimeoutMs: 33_000,
    boundMs: 33_000 + 4000,
    logged: { text: /answer to init did not arrive within 30 s/, byMs: 30_000 + 3000 },
  },
  {
    name: 'huge-body',
    routes: {
      init: (_, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 50 * 1024 * 1024) {
            sent += chunk.length;
            if (!response.write(chunk)) {
              response.once('drain', pump);
              return;
            }
          }
          response.end();
        };
        response.on('error', () => {});
        pump();
      },
    },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /larger than 1048576 bytes/,
  },
  {
    name: 'reflect-init',
    routes: { init: reflect(400) },
    code: 'PROVISIONING_REJECTED',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /Bearer \[redacted\]/,
  },
  {
    name: 'reflect-register',
    routes: {
      init: operation,
      complete: json(200, { registrationToken }),
      register: reflect(400),
    },
    code: 'PROTOCOL',
    startTimeoutMs: 20_000,
    boundMs: 5000,
    message: /Bearer \[redacted\]/,
  },
];

let server: Server;
let base: string;
const sockets = new Set<Socket>();
const dataDir = mkdtempSync(join(tmpdir(), 'spotflow-reliability-hostile-'));

beforeAll(async () => {
  server = createServer((request, response) => {
    const [, scenarioName] = (request.url ?? '').split('/');
    const scenario = scenarios.find((s) => s.name === scenarioName);
    const call = (request.url ?? '').split('/').pop() ?? '';
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const handler = scenario?.routes[call] ?? json(404, { title: 'not here' });
      handler(request, response, body);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

interface Run {
  stdout: string;
  stderr: string;
  lines: { t: number; level?: string; message?: string; outcome?: string; code?: string }[];
  ms: number;
}

function runChild(scenario: Scenario): Promise<Run> {
  const script = join(root, 'test', 'reliability', 'start-device.mjs');
  const config = {
    instance: `${base}/${scenario.name}`,
    provisioningToken,
    database: join(dataDir, `${scenario.name}.db`),
    deviceId: scenario.name,
    startTimeoutMs: scenario.startTimeoutMs,
  };
  const started = performance.now();
  const child = spawn(process.execPath, [script, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => {
    child.on('close', () => {
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      resolve({ stdout, stderr, lines, ms: performance.now() - started });
    });
  });
}

describe('a hostile provisioning API', () => {
  it('every start ends with a typed error within its deadline, and no token reaches any output', async () => {
    if (!existsSync(join(root, 'dist', 'src', 'client.js'))) throw new Error('run `npm run build` first');
    // All at once: the slowest (a body that never ends) bounds the test, not their sum.
    const runs = await Promise.all(
      scenarios.map(async (scenario) => ({ scenario, run: await runChild(scenario) })),
    );
    for (const { scenario, run } of runs) {
      const end = run.lines.find((l) => l.outcome !== undefined);
      expect(end, `${scenario.name}: no outcome; stderr: ${run.stderr}`).toBeDefined();
      expect(`${scenario.name}: ${end!.outcome} ${end!.code}`).toBe(
        `${scenario.name}: rejected ${scenario.code}`,
      );
      expect(end!.t, `${scenario.name} took too long`).toBeLessThan(scenario.boundMs);
      if (scenario.message)
        expect((end as { message?: string }).message, scenario.name).toMatch(scenario.message);
      if (scenario.logged) {
        const logged = run.lines.find((l) => scenario.logged!.text.test(JSON.stringify(l)));
        expect(logged, `${scenario.name}: no log line ${scenario.logged.text}`).toBeDefined();
        expect(logged!.t, scenario.name).toBeLessThan(scenario.logged.byMs);
      }
      for (const secret of forms) {
        expect(run.stdout.includes(secret), `${scenario.name}: a token in stdout`).toBe(false);
        expect(run.stderr.includes(secret), `${scenario.name}: a token in stderr`).toBe(false);
      }
    }
  }, 60_000);
});
