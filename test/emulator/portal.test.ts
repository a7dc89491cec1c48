// The portal as the emulator serves it: the page built by vite (emulator/portal/) at /portal, its assets, the
// security headers, and a 503 that says what to do when the portal was not built.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatorContext } from '../../emulator/context.js';
import {
  addPortal,
  escapeHtml,
  findBuiltPortal,
  portalCsp,
  portalDirectories,
  withWorkspaceId,
} from '../../emulator/http/portal.js';
import { createHttpApp } from '../../emulator/http/server.js';
import { silentLogger } from '../../emulator/log.js';
import { call, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;
let html: string;

beforeAll(async () => {
  emulator = await startTestEmulator();
  html = (await call<string>(emulator.instance, 'GET', '/portal')).body;
});
afterAll(() => emulator.close());

const portalSources = fileURLToPath(new URL('../../emulator/portal/', import.meta.url));

/** The asset URLs the page loads. */
const assetsOf = (page: string) => [...page.matchAll(/(?:src|href)="(\/portal\/[^"]+)"/g)].map((m) => m[1]!);

describe('GET /portal', () => {
  it('serves the built page with a strict content security policy', async () => {
    const result = await call<string>(emulator.instance, 'GET', '/portal');
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(result.headers.get('content-security-policy')).toBe(portalCsp);
    expect(portalCsp).toContain("script-src 'self'");
    expect(portalCsp).not.toContain('unsafe-inline');
    expect(result.headers.get('x-content-type-options')).toBe('nosniff');
    expect(result.headers.get('referrer-policy')).toBe('no-referrer');
    expect(html).toMatch(/^<!doctype html>/i);
    for (const heading of ['Devices waiting for approval', 'Devices', 'Live messages', 'Batches']) {
      expect(html).toMatch(new RegExp(`<h2[^>]*>${heading}\\b`));
    }
    for (const heading of ['Connection history', 'Device twin', 'Direct method', 'Cloud-to-device message']) {
      expect(html).toMatch(new RegExp(`<h2[^>]*>${heading}\\b`));
    }
    expect(html).toMatch(/<h2[^>]*>Uploaded files\b/);
  });

  it('holds no code: one module script and one stylesheet from /portal/assets/, nothing inline or external', () => {
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0]![0]).toMatch(/^<script type="module" crossorigin src="\/portal\/assets\/[\w-]+\.js">/);
    expect(scripts[0]![1]).toBe('');
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    expect(html).toMatch(/<link rel="stylesheet" crossorigin href="\/portal\/assets\/[\w-]+\.css">/);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('carries the workspace id (escaped) but never the API token', () => {
    expect(html).toContain(`<meta name="spotflow-workspace-id" content="${emulator.workspaceId}"`);
    expect(html).not.toContain(emulator.apiToken);
    expect(emulator.portalUrl).toBe(
      `${emulator.instance}/portal#apiToken=${encodeURIComponent(emulator.apiToken)}`,
    );
  });

  it('serves its assets with their types, cached forever (their names carry a hash)', async () => {
    const assets = assetsOf(html);
    expect(assets.length).toBe(2);
    for (const asset of assets) {
      const response = await fetch(`${emulator.instance}${asset}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(
        asset.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const text = await response.text();
      expect(text.length).toBeGreaterThan(1000);
      if (asset.endsWith('.js')) {
        expect(text).not.toMatch(
          /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
        );
        expect(text).not.toContain(emulator.apiToken);
      }
    }
  });

  it.each([
    '/portal/.vite/manifest.json',
    '/portal/assets/missing.js',
    '/portal/index.html',
    '/portal/..%2F..%2Fpackage.json',
    '/portal/assets/..%2F..%2F..%2Fpackage.json',
    '/portal/%2e%2e/%2e%2e/package.json',
    '/portal/assets/%00.js',
  ])('answers 404 for %s', async (path) => {
    const response = await fetch(`${emulator.instance}${path}`);
    expect(response.status).toBe(404);
    await response.body?.cancel();
  });
});

describe('the built portal is found', () => {
  it('beside the modules in dist/, and from the sources in the repository dist/', () => {
    const [beside, repository] = portalDirectories();
    expect(beside).toBe(portalSources);
    expect(repository).toMatch(/dist\/emulator\/portal\/$/);
    // The sources hold index.html too, but no build: they are skipped.
    expect(findBuiltPortal()).toBe(repository);
    expect(findBuiltPortal([portalSources])).toBeUndefined();
    expect(readdirSync(join(repository!, 'assets')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('without a build', () => {
  const reply = async (path: string): Promise<Response> => {
    const app = createHttpApp(silentLogger);
    const context = {
      log: silentLogger,
      workspace: { identity: { workspaceId: 'ws' } },
    } as unknown as EmulatorContext;
    addPortal(app, context, () => undefined);
    return app.request(path);
  };

  it('answers 503 with one line saying to run npm run build', async () => {
    for (const path of ['/portal', '/portal/assets/index.js']) {
      const answer = await reply(path);
      expect(answer.status).toBe(503);
      expect(answer.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      const body = await answer.text();
      expect(body.trim().split('\n')).toHaveLength(1);
      expect(body).toContain('npm run build');
    }
  });
});

describe('GET /', () => {
  it('redirects to the portal', async () => {
    const response = await fetch(`${emulator.instance}/`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/portal');
  });
});

describe('workspace id in the page', () => {
  const nasty = `"><script>alert("x")</script>'&`;

  it('is escaped for HTML', () => {
    expect(escapeHtml(nasty)).not.toMatch(/[<>"']/);
    expect(escapeHtml('a&b')).toBe('a&#38;b');
    const page = withWorkspaceId(html, nasty);
    expect(page).toContain(`<meta name="spotflow-workspace-id" content="${escapeHtml(nasty)}"`);
    expect(page.match(/<script\b/g)).toHaveLength(1);
    expect(page).not.toContain('alert("x")');
  });
});

describe('the portal sources', () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? sources(join(dir, entry.name))
        : entry.name.endsWith('.ts')
          ? [join(dir, entry.name)]
          : [],
    );

  it('never parse API data as HTML', () => {
    const files = sources(join(portalSources, 'src'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      expect(readFileSync(file, 'utf8'), file).not.toMatch(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser/,
      );
    }
  });
});
