/**
 * Serves the built kiosk panel and its `config.json` (where the platform is and the provisioning token) from an
 * origin of its own, as a kiosk page is served in real life: every call it makes to the platform is cross-origin.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface KioskConfig {
  instance: string;
  provisioningToken: string;
  portalUrl: string;
}

export interface KioskServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (0 = any free port); rejects with the listen error (EADDRINUSE…). */
export async function serveKiosk(
  root: string,
  config: KioskConfig,
  host: string,
  port: number,
): Promise<KioskServer> {
  const configJson = JSON.stringify(config);
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://kiosk').pathname);
    if (path === '/config.json') {
      response.writeHead(200, { 'content-type': contentTypes['.json']!, 'cache-control': 'no-store' });
      response.end(configJson);
      return;
    }
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': contentTypes[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
