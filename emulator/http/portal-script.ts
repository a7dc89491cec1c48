/**
 * The portal's browser script, inlined into the page after `const WORKSPACE_ID = "…";` (see portal-page.ts).
 * Plain ES2020, no framework, no build step. Everything that comes from the API is put into the DOM with
 * `textContent` / `setAttribute`, never parsed as HTML. Kept free of backticks and dollar-brace so it can live
 * in this template literal untouched.
 */
export const portalScript = String.raw`
(function () {
  'use strict';

  const MAX_ROWS = 500;
  const PAGE = 100;
  const TOKEN_KEY = 'spotflow-emulator-api-token:' + WORKSPACE_ID;
  const DEVICE_KEY = 'spotflow-emulator-device:' + WORKSPACE_ID;
  const base = '/workspaces/' + encodeURIComponent(WORKSPACE_ID);

  const $ = (id) => document.getElementById(id);

  /** Creates an element; props: class, text, title, on* listeners, other attributes. Children: nodes or text. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  // ---- storage (sessionStorage may be unavailable; the portal then works for this page view only) ----

  const memory = {};
  const store = {
    get(key) {
      try { return sessionStorage.getItem(key); } catch { return memory[key] ?? null; }
    },
    set(key, value) {
      try { sessionStorage.setItem(key, value); } catch { memory[key] = value; }
    },
    remove(key) {
      try { sessionStorage.removeItem(key); } catch { delete memory[key]; }
    },
  };

  // ---- status lines ----

  /** Shows a message in a section's status line; kind: 'error' | 'ok' | 'info'. Empty text hides it. */
  function say(node, text, kind) {
    node.textContent = text || '';
    node.className = 'status' + (text ? ' ' + (kind || 'info') : '');
  }

  /** A failed poll: the header already says when the emulator is unreachable, so only API errors show here. */
  function pollFailed(node, error) {
    if (error instanceof ApiError && error.status === 0) say(node, '');
    else say(node, describe(error), 'error');
  }

  function describe(error) {
    if (error instanceof ApiError) {
      const head = error.status ? error.status + ' ' + error.title : error.title;
      return error.detail ? head + ' — ' + error.detail : head;
    }
    return String((error && error.message) || error);
  }

  // ---- the management API ----

  class ApiError extends Error {
    constructor(status, title, detail) {
      super(title);
      this.status = status;
      this.title = title;
      this.detail = detail || '';
    }
  }

  let token = null;

  /** One call to the management API. Resolves with the parsed body; rejects with ApiError (problem details). */
  async function api(method, path, options) {
    const opts = options || {};
    const headers = { authorization: 'Bearer ' + token };
    let body;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.text !== undefined) {
      headers['content-type'] = 'text/plain; charset=utf-8';
      body = opts.text;
    }
    let response;
    try {
      response = await fetch(base + path, { method, headers, body, cache: 'no-store' });
    } catch {
      setLink(false);
      throw new ApiError(0, 'Emulator not reachable', 'is it still running?');
    }
    if (response.status !== 401) setLink(true);
    const text = await response.text();
    let data = text;
    try {
      data = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (!response.ok) {
      const problem = data && typeof data === 'object' ? data : {};
      const error = new ApiError(
        response.status,
        problem.title || response.statusText || 'Request failed',
        problem.detail || (typeof data === 'string' ? data.slice(0, 300) : ''),
      );
      if (response.status === 401) unauthorized();
      throw error;
    }
    return data;
  }

  const link = $('link');
  function setLink(up) {
    link.textContent = up ? 'connected' : 'emulator unreachable, retrying';
    link.className = 'link ' + (up ? 'up' : 'down');
  }

  // ---- polling: one run at a time, next run scheduled after the previous one finished ----

  function poller(intervalMs, task) {
    let timer = null;
    let running = false;
    let again = false;
    let stopped = true;
    async function tick() {
      timer = null;
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await task();
      } catch {
        // each task reports its own errors
      }
      running = false;
      if (stopped) return;
      const delay = again ? 0 : intervalMs;
      again = false;
      timer = setTimeout(tick, delay);
    }
    return {
      start() {
        if (!stopped) return;
        stopped = false;
        tick();
      },
      stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        timer = null;
      },
      /** Runs now (or right after the current run). */
      poke() {
        if (stopped) return;
        if (timer) clearTimeout(timer);
        tick();
      },
    };
  }

  /** Puts node at position index of parent, touching the DOM only when it is not there already. */
  function placeAt(parent, node, index) {
    const current = parent.children[index];
    if (current !== node) parent.insertBefore(node, current || null);
  }

  // ---- formatting ----

  const pad = (n, width) => String(n).padStart(width || 2, '0');

  function clock(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const time = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    return time + '.' + pad(d.getMilliseconds(), 3);
  }

  function ago(iso) {
    if (!iso) return 'never seen';
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 5) return 'just now';
    if (seconds < 60) return seconds + ' s ago';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
    if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
    return new Date(iso).toLocaleDateString();
  }

  function countdown(iso) {
    const left = Math.round((Date.parse(iso) - Date.now()) / 1000);
    if (left <= 0) return 'expired';
    if (left >= 3600) {
      return 'in ' + Math.floor(left / 3600) + ' h ' + pad(Math.floor((left % 3600) / 60)) + ' min';
    }
    return 'in ' + Math.floor(left / 60) + ':' + pad(left % 60);
  }

  const localTime = (iso) => (iso ? new Date(iso).toLocaleString() + ' (' + iso + ')' : '');

  function bytesLabel(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  /** Byte length of base64 data without decoding it. */
  function base64Length(b64) {
    const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
    return Math.floor((b64.length * 3) / 4) - padding;
  }

  /** Decodes at most maxBytes of base64 data. */
  function base64Bytes(b64, maxBytes) {
    const chars = Math.min(b64.length, Math.ceil(maxBytes / 3) * 4);
    const binary = atob(b64.slice(0, chars));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
  const looseUtf8 = new TextDecoder('utf-8');

  /** Payload bytes as text; binary (not UTF-8) as hex. truncated: more bytes exist than were given. */
  function payloadText(bytes, truncated) {
    try {
      return { text: strictUtf8.decode(bytes), binary: false };
    } catch {
      // a multi-byte character cut off by truncation is fine; anything else is binary
      if (truncated) {
        const text = looseUtf8.decode(bytes);
        if (!text.slice(0, -1).includes('\uFFFD')) {
          return { text: text.replace(/\uFFFD$/, ''), binary: false };
        }
      }
      const hex = Array.from(bytes.slice(0, 4096), (b) => b.toString(16).padStart(2, '0')).join(' ');
      return { text: hex, binary: true };
    }
  }

  function oneLine(text) {
    return text.replace(/[\r\n\t]+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '\u00b7');
  }

  function prettyJson(value) {
    return JSON.stringify(value, null, 2);
  }

  /** JSON text pretty-printed when it parses, else unchanged. */
  function maybePretty(text) {
    const trimmed = text.trim();
    if (!trimmed || !'{["'.includes(trimmed[0])) return text;
    try { return prettyJson(JSON.parse(trimmed)); } catch { return text; }
  }

  // ---- login / token ----

  const login = $('login');
  const app = $('app');
  const forget = $('forget');

  function tokenFromFragment() {
    const hash = location.hash.startsWith('#') ? location.hash.slice(1) : '';
    if (!hash) return null;
    const value = new URLSearchParams(hash).get('apiToken');
    // Drop the token from the address bar (and from history), keep it in sessionStorage only.
    history.replaceState(null, '', location.pathname + location.search);
    return value && value.trim() ? value.trim() : null;
  }

  function showLogin(message) {
    stopAll();
    app.hidden = true;
    forget.hidden = true;
    login.hidden = false;
    link.textContent = 'not connected';
    link.className = 'link';
    say($('login-status'), message, 'error');
    $('login-token').focus();
  }

  function unauthorized() {
    if (login.hidden === false) return;
    token = null;
    store.remove(TOKEN_KEY);
    showLogin('The emulator refused the API token (401). Paste the current one.');
  }

  $('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('login-token').value.trim();
    if (value) useToken(value);
  });

  forget.addEventListener('click', () => {
    token = null;
    store.remove(TOKEN_KEY);
    showLogin('');
  });

  async function useToken(value) {
    token = value;
    say($('login-status'), 'Checking…', 'info');
    try {
      await api('GET', '/settings');
    } catch (error) {
      token = null;
      if (error.status === 401) {
        unauthorized();
        say($('login-status'), 'The emulator refused this API token (401).', 'error');
      } else {
        // Keep the token in the form so "Use token" retries once the emulator is back.
        showLogin(describe(error));
        $('login-token').value = value;
      }
      return;
    }
    store.set(TOKEN_KEY, value);
    $('login-token').value = '';
    login.hidden = true;
    app.hidden = false;
    forget.hidden = false;
    say($('login-status'), '');
    startAll();
  }

  // ---- 1. pending provisioning operations ----

  const opsRows = new Map(); // provisioningOperationId -> { row, expires, approve, op }
  const decided = new Set(); // ids approved or cancelled here; a list fetched before that may still hold them
  const opsStatus = $('ops-status');
  let opsPollFailed = false;

  const opsPoller = poller(2000, async () => {
    let list;
    try {
      list = await api('GET', '/provisioning-operations?status=pending');
    } catch (error) {
      opsPollFailed = true;
      pollFailed(opsStatus, error);
      return;
    }
    if (opsPollFailed) {
      opsPollFailed = false;
      say(opsStatus, '');
    }
    const pending = Array.isArray(list) ? list : [];
    renderOperations(pending.filter((op) => !decided.has(op.provisioningOperationId)));
  });

  function renderOperations(list) {
    const seen = new Set();
    const body = $('ops');
    let index = 0;
    for (const op of list) {
      seen.add(op.provisioningOperationId);
      let entry = opsRows.get(op.provisioningOperationId);
      if (!entry) {
        entry = operationRow(op);
        opsRows.set(op.provisioningOperationId, entry);
      }
      entry.op = op;
      placeAt(body, entry.row, index++);
    }
    for (const [id, entry] of opsRows) {
      if (!seen.has(id) && !entry.busy) {
        entry.row.remove();
        opsRows.delete(id);
      }
    }
    refreshCountdowns();
    const count = opsRows.size;
    $('ops-count').textContent = String(count);
    $('ops-count').className = 'count' + (count ? ' hot' : '');
    $('ops-empty').hidden = count !== 0;
  }

  function operationRow(op) {
    const entry = { op, busy: false };
    const decide = (action) => async () => {
      entry.busy = true;
      entry.approve.disabled = true;
      entry.cancel.disabled = true;
      const { deviceId, verificationCode, provisioningOperationId } = entry.op;
      try {
        await api('PUT', '/provisioning-operations/' + action, { json: { provisioningOperationId } });
        say(
          opsStatus,
          (action === 'approve' ? 'Approved ' : 'Cancelled ') + deviceId + ' (' + verificationCode + ').',
          'ok',
        );
        decided.add(provisioningOperationId);
        entry.row.remove();
        opsRows.delete(provisioningOperationId);
        devicesPoller.poke();
      } catch (error) {
        opsPollFailed = false; // keep this message until the next action
        say(opsStatus, deviceId + ': ' + describe(error), 'error');
        entry.approve.disabled = false;
        entry.cancel.disabled = false;
      }
      entry.busy = false;
      opsPoller.poke();
    };
    entry.approve = el('button', { type: 'button', text: 'Approve', onclick: decide('approve') });
    entry.cancel = el('button', {
      type: 'button',
      class: 'danger',
      text: 'Cancel',
      onclick: decide('cancel'),
    });
    entry.expires = el('span', { class: 'expires' });
    entry.row = el(
      'li',
      null,
      el(
        'div',
        { class: 'op-head' },
        el('span', { class: 'op-device', text: op.deviceId, title: op.deviceId }),
        entry.expires,
      ),
      el(
        'div',
        { class: 'op-body' },
        el('span', { class: 'code', text: op.verificationCode, title: 'verification code' }),
        el('span', { class: 'actions' }, entry.approve, entry.cancel),
      ),
    );
    entry.approve.setAttribute('aria-label', 'Approve ' + op.deviceId);
    entry.cancel.setAttribute('aria-label', 'Cancel ' + op.deviceId);
    return entry;
  }

  const expired = (countdownText) => countdownText === 'expired';

  function refreshCountdowns() {
    for (const entry of opsRows.values()) {
      const text = countdown(entry.op.expirationTime);
      entry.expires.textContent = expired(text) ? 'expired' : 'expires ' + text;
      entry.expires.title = localTime(entry.op.expirationTime);
      entry.row.classList.toggle('expired', expired(text));
      if (expired(text) && !entry.busy) entry.approve.disabled = true;
    }
  }

  // ---- 2. devices ----

  const deviceRows = new Map(); // deviceId -> { item, button, dot, seen, device }
  const devicesStatus = $('devices-status');
  let selected = null;
  let selectedDevice = null; // last API view of the selected device

  const devicesPoller = poller(2000, async () => {
    let list;
    try {
      list = await api('GET', '/devices');
    } catch (error) {
      pollFailed(devicesStatus, error);
      return;
    }
    say(devicesStatus, '');
    renderDevices(Array.isArray(list) ? list : []);
  });

  function renderDevices(list) {
    const ul = $('devices');
    const seen = new Set();
    const sorted = list.slice().sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    let index = 0;
    for (const device of sorted) {
      seen.add(device.deviceId);
      let entry = deviceRows.get(device.deviceId);
      if (!entry) {
        entry = deviceRow(device.deviceId);
        deviceRows.set(device.deviceId, entry);
      }
      entry.device = device;
      placeAt(ul, entry.item, index++);
    }
    for (const [id, entry] of deviceRows) {
      if (!seen.has(id)) {
        entry.item.remove();
        deviceRows.delete(id);
      }
    }
    refreshDeviceTimes();
    $('devices-count').textContent = String(deviceRows.size);
    $('devices-empty').hidden = deviceRows.size !== 0;
    if (selected) {
      const entry = deviceRows.get(selected);
      selectedDevice = entry ? entry.device : null;
      renderDeviceHead();
    } else {
      const remembered = store.get(DEVICE_KEY);
      if (remembered && deviceRows.has(remembered)) select(remembered);
    }
  }

  function deviceRow(deviceId) {
    const dot = el('span', { class: 'dot' });
    const seen = el('span', { class: 'seen' });
    const button = el(
      'button',
      { type: 'button', class: 'device', 'aria-pressed': 'false', onclick: () => select(deviceId) },
      dot,
      el('span', { class: 'id', text: deviceId, title: deviceId }),
      seen,
    );
    return { item: el('li', null, button), button, dot, seen, device: null };
  }

  function refreshDeviceTimes() {
    for (const entry of deviceRows.values()) {
      const device = entry.device;
      entry.dot.className = 'dot' + (device.connected ? ' on' : '');
      entry.dot.title = device.connected ? 'connected' : 'not connected';
      entry.seen.textContent = device.connected ? 'online' : ago(device.lastSeen);
      entry.seen.title = device.lastSeen ? 'last seen ' + localTime(device.lastSeen) : 'never seen';
      entry.button.setAttribute('aria-pressed', String(entry.device.deviceId === selected));
    }
  }

  function renderDeviceHead() {
    const device = selectedDevice;
    $('device-dot').className = 'dot' + (device && device.connected ? ' on' : '');
    let state = 'no longer listed';
    if (device) state = device.connected ? 'connected' : 'offline, last seen ' + ago(device.lastSeen);
    $('device-state').textContent = state;
  }

  function select(deviceId) {
    if (selected === deviceId) return;
    selected = deviceId;
    store.set(DEVICE_KEY, deviceId);
    const entry = deviceRows.get(deviceId);
    selectedDevice = entry ? entry.device : null;
    refreshDeviceTimes();
    $('no-device').hidden = true;
    $('device-panel').hidden = false;
    $('device-name').textContent = deviceId;
    renderDeviceHead();
    resetMessages();
    resetTwin();
    for (const id of ['twin-status', 'c2d-status', 'method-status']) say($(id), '');
    $('method-result').hidden = true;
    messagesPoller.stop();
    twinPoller.stop();
    messagesPoller.start();
    twinPoller.start();
  }

  const devicePath = (suffix) => '/devices/' + encodeURIComponent(selected) + suffix;

  // ---- 3. live messages ----

  const messagesBody = $('messages-body');
  const messagesStatus = $('messages-status');
  let lastSequence = 0;
  let generation = 0; // bumped whenever the device or filter changes; stale responses are dropped
  let received = 0;
  let caughtUp = false; // rows fetched after the first catch-up are highlighted as new
  let chosenRow = null;
  const rowItems = new WeakMap(); // <tr> -> message

  function resetMessages() {
    generation++;
    lastSequence = 0;
    received = 0;
    caughtUp = false;
    messagesBody.replaceChildren();
    closeDetail();
    showPaused();
    updateMessagesInfo();
  }

  function showPaused() {
    const paused = $('pause').checked;
    say(messagesStatus, paused ? 'Paused — new messages are fetched when you resume.' : '', 'info');
  }

  const messagesPoller = poller(1500, async () => {
    if (!selected || $('pause').checked) return;
    const gen = generation;
    const stream = $('stream-filter').value.trim();
    // Catch up page by page (a device with a long history), rendering only the newest rows once.
    const batch = [];
    let done = false;
    for (let pages = 0; pages < 50 && !done; pages++) {
      let query = '?after=' + lastSequence + '&limit=' + PAGE;
      if (stream) query += '&stream=' + encodeURIComponent(stream);
      let page;
      try {
        page = await api('GET', devicePath('/messages' + query));
      } catch (error) {
        if (gen === generation) pollFailed(messagesStatus, error);
        break;
      }
      if (gen !== generation) return;
      if (messagesStatus.classList.contains('error')) say(messagesStatus, '');
      const items = (page && page.items) || [];
      if (items.length) {
        lastSequence = items[items.length - 1].sequence;
        received += items.length;
        batch.push(...items);
        if (batch.length > MAX_ROWS) batch.splice(0, batch.length - MAX_ROWS);
      }
      done = !page || page.next === null || page.next === undefined;
    }
    if (gen !== generation) return;
    if (batch.length) addMessages(batch, caughtUp);
    else updateMessagesInfo();
    if (done) caughtUp = true;
  });

  function addMessages(items, fresh) {
    const fragment = document.createDocumentFragment();
    const start = Math.max(0, items.length - MAX_ROWS);
    for (let i = items.length - 1; i >= start; i--) fragment.append(messageRow(items[i], fresh));
    messagesBody.prepend(fragment);
    while (messagesBody.childElementCount > MAX_ROWS) {
      const last = messagesBody.lastElementChild;
      if (last === chosenRow) closeDetail();
      last.remove();
    }
    updateMessagesInfo();
  }

  function updateMessagesInfo() {
    const shown = messagesBody.childElementCount;
    $('messages-empty').hidden = shown !== 0;
    $('messages-info').textContent = received
      ? received +
        ' received' +
        (received > shown ? ', newest ' + shown + ' shown' : '') +
        ' · last #' +
        lastSequence
      : '';
  }

  function cell(text, className, title) {
    const value = text === null || text === undefined || text === '' ? null : String(text);
    return el('td', {
      class: (className || '') + (value === null ? ' none' : ''),
      title: title || value,
      text: value === null ? '–' : value,
    });
  }

  function messageRow(m, fresh) {
    const b64 = m.payloadBase64 || '';
    const size = base64Length(b64);
    const preview = payloadText(base64Bytes(b64, 512), size > 512);
    const previewText = (preview.binary ? 'binary: ' : '') + oneLine(preview.text).slice(0, 160);
    const stream = [m.streamGroup, m.stream].filter((x) => x).join(' / ');
    const messagePart = m.chunkId ? (m.messageId || '–') + ' / ' + m.chunkId : m.messageId;
    const payloadCell = size
      ? el('td', { class: 'payload', title: previewText, text: previewText })
      : el('td', { class: 'payload none', text: '(empty)' });
    const dup = m.duplicate ? el('span', { class: 'badge dup', text: 'dup', title: 'duplicate $.mid' }) : '';
    const row = el(
      'tr',
      { class: fresh ? 'fresh' : null, tabindex: '0' },
      cell(m.sequence, 'num'),
      cell(clock(m.receivedAt), null, localTime(m.receivedAt)),
      cell(stream, 'clip'),
      cell(m.batchId, 'clip'),
      cell(messagePart, 'clip'),
      el('td', null, dup),
      cell(bytesLabel(size), 'num'),
      payloadCell,
    );
    rowItems.set(row, m);
    return row;
  }

  function openDetail(row) {
    const m = rowItems.get(row);
    if (!m) return;
    if (chosenRow) chosenRow.classList.remove('chosen');
    chosenRow = row;
    row.classList.add('chosen');
    const b64 = m.payloadBase64 || '';
    const size = base64Length(b64);
    const limit = 256 * 1024;
    const decoded = payloadText(base64Bytes(b64, limit), size > limit);
    let text = decoded.binary ? decoded.text : maybePretty(decoded.text);
    if (size > limit || (decoded.binary && size > 4096)) {
      text += '\n… (' + bytesLabel(size) + ' in total, truncated)';
    }
    $('message-detail-title').textContent =
      'Message #' +
      m.sequence +
      (m.mid ? ' · mid ' + m.mid : '') +
      (m.siteId ? ' · site ' + m.siteId : '') +
      ' · ' + bytesLabel(size) + (decoded.binary ? ' binary (hex)' : '');
    const props = $('message-props');
    props.replaceChildren();
    const entries = Object.entries(m.properties || {}).sort((a, b) => a[0].localeCompare(b[0]));
    for (const [key, value] of entries) {
      props.append(el('dt', { text: key }), el('dd', { text: String(value) }));
    }
    props.hidden = entries.length === 0;
    $('message-payload').textContent = size ? text : '(empty payload)';
    $('message-detail').hidden = false;
  }

  function closeDetail() {
    if (chosenRow) chosenRow.classList.remove('chosen');
    chosenRow = null;
    $('message-detail').hidden = true;
  }

  messagesBody.addEventListener('click', (event) => {
    const row = event.target.closest('tr');
    if (row) openDetail(row);
  });
  messagesBody.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' && event.key !== ' ') return;
    const row = event.target.closest('tr');
    if (!row) return;
    event.preventDefault();
    openDetail(row);
  });
  $('message-detail-close').addEventListener('click', closeDetail);
  $('clear-messages').addEventListener('click', () => {
    // Keep the position: only rows from now on are shown.
    messagesBody.replaceChildren();
    received = 0;
    closeDetail();
    updateMessagesInfo();
  });
  $('pause').addEventListener('change', () => {
    showPaused();
    messagesPoller.poke();
  });
  let filterTimer = null;
  $('stream-filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      resetMessages();
      messagesPoller.poke();
    }, 400);
  });

  // ---- 4. twin ----

  let twinText = { desired: null, reported: null };
  const twinStatus = $('twin-status');
  let twinPollFailed = false;

  function resetTwin() {
    twinText = { desired: null, reported: null };
    for (const part of ['desired', 'reported']) {
      $('twin-' + part).textContent = '…';
      $(part + '-version').textContent = '';
    }
  }

  const twinPoller = poller(2000, async () => {
    if (!selected) return;
    const device = selected;
    let twin;
    try {
      twin = await api('GET', devicePath('/twin'));
    } catch (error) {
      if (device === selected) {
        twinPollFailed = true;
        pollFailed(twinStatus, error);
      }
      return;
    }
    if (device !== selected) return;
    if (twinPollFailed) {
      twinPollFailed = false;
      say(twinStatus, '');
    }
    renderTwin(twin);
  });

  function renderTwin(twin) {
    for (const part of ['desired', 'reported']) {
      const doc = (twin && twin[part]) || {};
      const text = prettyJson(doc);
      if (text === twinText[part]) continue;
      const pre = $('twin-' + part);
      const first = twinText[part] === null;
      twinText[part] = text;
      pre.textContent = text;
      $(part + '-version').textContent = '$version ' + doc.$version;
      if (!first) {
        pre.classList.remove('changed');
        void pre.offsetWidth; // restart the highlight
        pre.classList.add('changed');
      }
    }
  }

  $('twin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const source = $('twin-patch').value.trim();
    let patch;
    try {
      patch = JSON.parse(source);
    } catch (error) {
      say(twinStatus, 'Not valid JSON: ' + error.message, 'error');
      return;
    }
    if (!patch || typeof patch !== 'object' || Array.isArray(patch)) {
      say(twinStatus, 'A merge patch must be a JSON object, e.g. {"interval": 10}.', 'error');
      return;
    }
    const button = event.submitter || $('twin-form').querySelector('button');
    const device = selected;
    button.disabled = true;
    say(twinStatus, 'Sending…', 'info');
    try {
      const desired = await api('PATCH', devicePath('/twin/desired'), { json: patch });
      if (device !== selected) return;
      say(
        twinStatus,
        'Desired is now $version ' +
          desired.$version +
          (selectedDevice && selectedDevice.connected
            ? ', pushed to the device.'
            : '; the device gets it when it connects.'),
        'ok',
      );
      twinPoller.poke();
    } catch (error) {
      if (device === selected) say(twinStatus, describe(error), 'error');
    } finally {
      button.disabled = false;
    }
  });

  // ---- 5. cloud-to-device messages ----

  $('c2d-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const status = $('c2d-status');
    const query = new URLSearchParams();
    const lines = $('c2d-props').value.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      const eq = line.indexOf('=');
      if (eq <= 0) {
        say(status, 'Property line ' + (i + 1) + ' is not key=value: ' + line, 'error');
        return;
      }
      query.append(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    const button = event.submitter || $('c2d-form').querySelector('button');
    const device = selected;
    button.disabled = true;
    say(status, 'Sending…', 'info');
    try {
      const qs = query.toString();
      const path = devicePath('/c2d-messages' + (qs ? '?' + qs : ''));
      const result = await api('POST', path, { text: $('c2d-body').value });
      if (device !== selected) return;
      const online = selectedDevice && selectedDevice.connected;
      const mid = result && result.mid ? ' (mid ' + result.mid + ').' : '.';
      say(status, (online ? 'Sent' : 'Queued until the device connects') + mid, 'ok');
    } catch (error) {
      if (device === selected) say(status, describe(error), 'error');
    } finally {
      button.disabled = false;
    }
  });

  // ---- 6. direct methods ----

  $('method-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const status = $('method-status');
    const name = $('method-name').value.trim();
    const timeout = Number($('method-timeout').value || 30);
    const source = $('method-payload').value.trim();
    if (!name) {
      say(status, 'Give a method name.', 'error');
      return;
    }
    if (!(timeout > 0 && timeout <= 300)) {
      say(status, 'The timeout must be between 1 and 300 seconds.', 'error');
      return;
    }
    let options = {};
    if (source) {
      try {
        options = { json: JSON.parse(source) };
      } catch (error) {
        say(status, 'Payload is not valid JSON: ' + error.message, 'error');
        return;
      }
    }
    const device = selected;
    const button = event.submitter || $('method-form').querySelector('button');
    button.disabled = true;
    $('method-result').hidden = true;
    say(status, 'Waiting for ' + device + ' (up to ' + timeout + ' s)…', 'info');
    const output = $('method-output');
    try {
      const path = '/methods/' + encodeURIComponent(name) + '?timeoutSeconds=' + encodeURIComponent(timeout);
      const result = await api('POST', devicePath(path), options);
      if (device !== selected) return;
      const success = result.status >= 200 && result.status < 300;
      say(status, name + ' answered with status ' + result.status + '.', success ? 'ok' : 'error');
      const payload = result.payload === undefined ? null : result.payload;
      output.textContent = prettyJson({ status: result.status, payload });
      output.className = success ? '' : 'failed';
      $('method-result').hidden = false;
    } catch (error) {
      if (device !== selected) return;
      say(status, describe(error), 'error');
    } finally {
      button.disabled = false;
    }
  });

  // Ctrl/Cmd+Enter submits the form of the focused text area.
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey)) return;
    const form = event.target.closest && event.target.closest('form');
    if (form) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ---- start ----

  let clockTimer = null;
  function startAll() {
    opsPoller.start();
    devicesPoller.start();
    if (selected) {
      messagesPoller.start();
      twinPoller.start();
    }
    clearInterval(clockTimer);
    clockTimer = setInterval(() => {
      refreshCountdowns();
      refreshDeviceTimes();
      if (selected) renderDeviceHead();
    }, 1000);
  }

  function stopAll() {
    opsPoller.stop();
    devicesPoller.stop();
    messagesPoller.stop();
    twinPoller.stop();
    clearInterval(clockTimer);
  }

  const fromFragment = tokenFromFragment();
  const initial = fromFragment || store.get(TOKEN_KEY);
  if (initial) useToken(initial);
  else showLogin('');
  window.addEventListener('hashchange', () => {
    const value = tokenFromFragment();
    if (value) useToken(value);
  });
})();
`;
