import type { EmulatorContext } from '../context.js';
import { portalPage } from './portal-page.js';
import type { Router } from './router.js';

/** The portal: one self-contained page that drives the management API from the browser. */
export function addPortal(router: Router, context: EmulatorContext): void {
  const page = () => ({
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
    },
    body: portalPage(context.workspace.identity.workspaceId),
  });
  router.on('GET', '/portal', page);
  router.on('GET', '/favicon.ico', () => ({ status: 204 }));
  router.on('GET', '/', () => ({ status: 302, headers: { location: '/portal' } }));
}
