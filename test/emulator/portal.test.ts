import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, jsString, portalPage } from '../../emulator/http/portal-page.js';
import { call, startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

let emulator: TestEmulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

const headings = [
  'Pending provisioning operations',
  'Devices',
  'Live messages',
  'Device twin',
  'Cloud-to-device message',
  'Direct method',
];

describe('GET /portal', () => {
  it('serves a self-contained HTML page with the CSP header', async () => {
    const result = await call<string>(emulator.instance, 'GET', '/portal');
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toMatch(/^text\/html/);
    expect(result.headers.get('content-security-policy')).toBe(
      "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
    );
    const html = result.body;
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain(emulator.workspaceId);
    expect(html).toContain(`const WORKSPACE_ID = ${JSON.stringify(emulator.workspaceId)};`);
    for (const heading of headings) expect(html).toMatch(new RegExp(`<h2[^>]*>${heading}\\b`));
    // Inline only: no external scripts, styles or other resources.
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('never carries the API token (it rides in the URL fragment)', async () => {
    const result = await call<string>(emulator.instance, 'GET', '/portal');
    expect(result.body).not.toContain(emulator.apiToken);
    expect(emulator.portalUrl).toBe(
      `${emulator.instance}/portal#apiToken=${encodeURIComponent(emulator.apiToken)}`,
    );
  });

  it('has an inline script that parses', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(portalPage('ws'))![1]!;
    expect(() => new Script(script)).not.toThrow();
  });

  it('puts data into the DOM as text only', () => {
    const html = portalPage('ws');
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });
});

describe('GET /', () => {
  it('redirects to the portal', async () => {
    const response = await fetch(`${emulator.instance}/`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/portal');
  });
});

describe('workspace id escaping', () => {
  const nasty = `</script><script>alert("x")</script>'&\u2028`;

  it('escapes it for HTML', () => {
    expect(escapeHtml(nasty)).not.toMatch(/[<>"']/);
    expect(escapeHtml('a&b')).toBe('a&#38;b');
  });

  it('escapes it for a JavaScript string literal inside <script>', () => {
    const literal = jsString(nasty);
    expect(literal).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(literal)).toBe(nasty);
  });

  it('keeps the page intact whatever the id', () => {
    const html = portalPage(nasty);
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).not.toContain('alert("x")');
  });
});
