import { portalScript } from './portal-script.js';
import { portalStyle } from './portal-style.js';

/** Text made safe for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A JavaScript string literal that is safe inside an inline `<script>`: JSON quoting, plus `<`, `>`, `&` and the
 * two line separators escaped so the value can neither end the script element nor break the literal.
 */
export function jsString(text: string): string {
  return JSON.stringify(text).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The portal: one self-contained page (inline CSS and vanilla JS, nothing external) that drives the management
 * API of the same origin. The API token never reaches the server with the page: it rides in the URL fragment
 * (`/portal#apiToken=…`) or is pasted into a form, and is kept in `sessionStorage`.
 */
export function portalPage(workspaceId: string): string {
  const ws = escapeHtml(workspaceId);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Spotflow emulator · ${ws}</title>
<style>${portalStyle}</style>
</head>
<body>
<header class="top">
  <h1>Spotflow emulator</h1>
  <span class="ws">Workspace <code>${ws}</code></span>
  <span id="link" class="link" role="status">not connected</span>
  <button id="forget" type="button" class="quiet" hidden>Forget API token</button>
</header>

<section id="login" class="card login" hidden>
  <h2>API token</h2>
  <p>The portal calls the emulator's management API with the API token the emulator printed at startup
  (the <code>Portal:</code> URL ends in <code>#apiToken=…</code>; <code>--json</code> prints it as
  <code>apiToken</code>). It is kept in this browser tab only.</p>
  <form id="login-form">
    <input id="login-token" type="password" autocomplete="off" spellcheck="false" placeholder="api-…"
      aria-label="API token" required>
    <button type="submit">Use token</button>
  </form>
  <p id="login-status" class="status" role="alert"></p>
</section>

<main id="app" hidden>
  <div class="col side">
    <section class="card" aria-labelledby="ops-title">
      <h2 id="ops-title">Pending provisioning operations <span id="ops-count" class="count">0</span></h2>
      <p id="ops-status" class="status" role="status"></p>
      <ul id="ops" class="ops"></ul>
      <p id="ops-empty" class="empty">No device is waiting for approval.</p>
    </section>

    <section class="card" aria-labelledby="devices-title">
      <h2 id="devices-title">Devices <span id="devices-count" class="count">0</span></h2>
      <p id="devices-status" class="status" role="status"></p>
      <ul id="devices" class="devices"></ul>
      <p id="devices-empty" class="empty">No device has registered yet.</p>
    </section>
  </div>

  <div class="col">
    <p id="no-device" class="card empty">Select a device to see its live messages, twin, C2D messages and
    direct methods.</p>

    <div id="device-panel" hidden>
      <h2 class="device-head"><span id="device-dot" class="dot"></span><code id="device-name"></code>
        <span id="device-state" class="state"></span></h2>

      <section class="card" aria-labelledby="messages-title">
        <h2 id="messages-title">Live messages</h2>
        <div class="toolbar">
          <label>Stream name <input id="stream-filter" type="search" placeholder="all streams" spellcheck="false"></label>
          <label><input id="pause" type="checkbox"> Pause</label>
          <button id="clear-messages" type="button" class="quiet">Clear</button>
          <span id="messages-info" class="muted"></span>
        </div>
        <p id="messages-status" class="status" role="status"></p>
        <div class="scroll">
          <table class="messages">
            <thead><tr><th>#</th><th>Received</th><th>Stream group / stream</th><th>Batch</th>
              <th>Message / chunk</th><th>Dup</th><th>Size</th><th>Payload</th></tr></thead>
            <tbody id="messages-body"></tbody>
          </table>
          <p id="messages-empty" class="empty pad">No messages yet.</p>
        </div>
        <div id="message-detail" class="detail-box" hidden>
          <h3><span id="message-detail-title"></span>
            <button id="message-detail-close" type="button" class="quiet">Close</button></h3>
          <dl id="message-props" class="props"></dl>
          <pre id="message-payload"></pre>
        </div>
      </section>

      <section class="card" aria-labelledby="twin-title">
        <h2 id="twin-title">Device twin</h2>
        <div class="twin">
          <div><h3>Desired <span id="desired-version" class="badge"></span></h3><pre id="twin-desired">…</pre></div>
          <div><h3>Reported <span id="reported-version" class="badge"></span></h3><pre id="twin-reported">…</pre></div>
        </div>
        <form id="twin-form">
          <label for="twin-patch">Desired properties patch (JSON merge patch; <code>null</code> removes a key)</label>
          <textarea id="twin-patch" rows="4" spellcheck="false" placeholder="{&quot;interval&quot;: 10}"></textarea>
          <div class="actions"><button type="submit">Send patch</button>
            <p id="twin-status" class="status" role="status"></p></div>
        </form>
      </section>

      <div class="pair">
        <section class="card" aria-labelledby="c2d-title">
          <h2 id="c2d-title">Cloud-to-device message</h2>
          <form id="c2d-form">
            <label for="c2d-body">Body (sent as is)</label>
            <textarea id="c2d-body" rows="4" spellcheck="false"></textarea>
            <label for="c2d-props">Properties, one <code>key=value</code> per line</label>
            <textarea id="c2d-props" rows="2" spellcheck="false" placeholder="command=reboot"></textarea>
            <div class="actions"><button type="submit">Send</button>
              <p id="c2d-status" class="status" role="status"></p></div>
          </form>
        </section>

        <section class="card" aria-labelledby="method-title">
          <h2 id="method-title">Direct method</h2>
          <form id="method-form">
            <div class="row">
              <div class="field grow"><label for="method-name">Method name</label>
                <input id="method-name" required spellcheck="false" placeholder="reboot"></div>
              <div class="field"><label for="method-timeout">Timeout (s)</label>
                <input id="method-timeout" type="number" min="1" max="300" value="30" class="narrow"></div>
            </div>
            <label for="method-payload">Payload (JSON, optional)</label>
            <textarea id="method-payload" rows="3" spellcheck="false" placeholder="{&quot;delay&quot;: 5}"></textarea>
            <div class="actions"><button type="submit">Invoke</button>
              <p id="method-status" class="status" role="status"></p></div>
          </form>
          <div id="method-result" class="result" hidden><pre id="method-output"></pre></div>
        </section>
      </div>
    </div>
  </div>
</main>
<script>
const WORKSPACE_ID = ${jsString(workspaceId)};
${portalScript}
</script>
</body>
</html>
`;
}
