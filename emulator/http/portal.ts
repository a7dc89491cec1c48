import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorContext } from '../context.js';
import type { HttpApp } from './server.js';

/**
 * Where the built portal is looked for: beside the emulator's modules (`dist/emulator/portal/`, also inside an
 * installed package), and, when the emulator runs from its TypeScript sources (tests), in the repository's `dist/`.
 */
export function portalDirectories(): string[] {
  return [
    fileURLToPath(new URL('../portal/', import.meta.url)),
    fileURLToPath(new URL('../../dist/emulator/portal/', import.meta.url)),
  ];
}

/** A directory holds a built portal when vite left its manifest there (the sources have none). */
export function findBuiltPortal(directories: string[] = portalDirectories()): string | undefined {
  return directories.find((dir) => existsSync(join(dir, '.vite', 'manifest.json')));
}

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page's security policy: its own scripts, styles and API only; nothing inline, nothing from elsewhere. */
export const portalCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const contentTypes: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

/** Asset paths: plain names in plain folders, nothing hidden, no `..`. */
const assetPath = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const securityHeaders = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The portal (emulator/portal/, built by vite into `dist/emulator/portal/`): `GET /portal` serves its page with
 * the workspace id filled in, `GET /portal/…` its assets. The API token never comes from the server: the page reads
 * it from the URL fragment or asks for it. Without a build, `/portal` answers 503 saying how to make one.
 * `locate` finds the build (tests pass their own).
 */
export function addPortal(
  app: HttpApp,
  context: EmulatorContext,
  locate: () => string | undefined = () => findBuiltPortal(),
): void {
  const notBuilt = () =>
    new Response('The portal is not built: run `npm run build` (it writes dist/emulator/portal/).\n', {
      status: 503,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...securityHeaders },
    });
  const notFound = () =>
    new Response('Not Found\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  if (locate() === undefined) {
    context.log.debug('the portal is not built', { lookedIn: portalDirectories() });
  }

  app.get('/portal', async (c) => {
    // Looked up on each request, so a build made while the emulator runs is picked up.
    const directory = locate();
    if (directory === undefined) return notBuilt();
    let html: string;
    try {
      html = await readFile(join(directory, 'index.html'), 'utf8');
    } catch {
      return notBuilt();
    }
    return c.body(withWorkspaceId(html, context.workspace.identity.workspaceId), 200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': portalCsp,
      'cache-control': 'no-cache',
      ...securityHeaders,
    });
  });

  app.get('/portal/:path{.+}', async (c) => {
    const path = c.req.param('path') ?? '';
    const directory = locate();
    if (directory === undefined) return notBuilt();
    const type = contentTypes[extname(path)];
    const root = resolve(directory);
    const file = resolve(root, path);
    if (!assetPath.test(path) || type === undefined || !file.startsWith(root + sep)) {
      return notFound();
    }
    let content: Buffer;
    try {
      content = await readFile(file);
    } catch {
      return notFound();
    }
    // readFile's Buffer sits on a plain ArrayBuffer, never a shared one.
    return c.body(content as Uint8Array<ArrayBuffer>, 200, {
      'content-type': type,
      // Built asset names carry a content hash.
      'cache-control': path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...securityHeaders,
    });
  });

  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/', (c) => c.redirect('/portal', 302));
}

/** Fills the page's `<meta name="spotflow-workspace-id">` (the page reads the workspace id from there). */
export function withWorkspaceId(html: string, workspaceId: string): string {
  return html.replace(
    /<meta name="spotflow-workspace-id" content="[^"]*"/,
    `<meta name="spotflow-workspace-id" content="${escapeHtml(workspaceId)}"`,
  );
}
