/** The portal's stylesheet, inlined into the page (the CSP allows inline styles only). */
export const portalStyle = `
:root {
  color-scheme: light dark;
  --bg: #f4f5f7;
  --card: #ffffff;
  --text: #1d2330;
  --muted: #667085;
  --line: #dde1e7;
  --accent: #1f6feb;
  --accent-text: #ffffff;
  --ok: #1a7f37;
  --off: #98a2b3;
  --bad: #c4320a;
  --bad-bg: #fff1ed;
  --warn: #9a6700;
  --warn-bg: #fff8c5;
  --select: #e8f0fe;
  --code-bg: #f6f8fa;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1218;
    --card: #171b23;
    --text: #e6e9ef;
    --muted: #9aa4b2;
    --line: #2b313c;
    --accent: #4c8df6;
    --ok: #3fb950;
    --off: #5d6675;
    --bad: #ff7b72;
    --bad-bg: #3a1d1b;
    --warn: #e3b341;
    --warn-bg: #3a3020;
    --select: #1c2b44;
    --code-bg: #11151c;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body {
  background: var(--bg);
  color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
}
code, pre, textarea, input, .mono { font-family: var(--mono); }
code, .mono { font-size: 12.5px; }
[hidden] { display: none !important; }

.top {
  display: flex;
  align-items: center;
  gap: 16px;
  flex-wrap: wrap;
  padding: 10px 20px;
  background: var(--card);
  border-bottom: 1px solid var(--line);
}
.top h1 { margin: 0; font-size: 16px; }
.top .ws { color: var(--muted); }
.top .ws code { color: var(--text); }
.link { margin-left: auto; font-size: 12px; color: var(--muted); }
.link::before {
  content: '';
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 6px;
  border-radius: 50%;
  background: var(--off);
}
.link.up::before { background: var(--ok); }
.link.down { color: var(--bad); }
.link.down::before { background: var(--bad); }

main {
  display: grid;
  grid-template-columns: minmax(320px, 400px) minmax(0, 1fr);
  gap: 16px;
  padding: 16px 20px 32px;
  align-items: start;
}
@media (max-width: 980px) {
  main { grid-template-columns: minmax(0, 1fr); }
}
.col { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
@media (min-width: 981px) {
  .col.side { position: sticky; top: 16px; max-height: calc(100vh - 32px); overflow: auto; }
}

.card {
  background: var(--card);
  border: 1px solid var(--line);
  border-radius: 8px;
  padding: 12px 14px;
  min-width: 0;
}
.card h2 {
  display: flex;
  align-items: center;
  gap: 8px;
  margin: 0 0 8px;
  font-size: 14px;
  text-transform: uppercase;
  letter-spacing: 0.04em;
  color: var(--muted);
}
.card h3 { margin: 0 0 4px; font-size: 13px; display: flex; gap: 8px; align-items: center; }
.count {
  min-width: 20px;
  padding: 0 6px;
  border-radius: 10px;
  background: var(--line);
  color: var(--text);
  font-size: 12px;
  text-align: center;
  letter-spacing: 0;
}
.count.hot { background: var(--accent); color: var(--accent-text); }
.badge {
  padding: 0 6px;
  border-radius: 4px;
  background: var(--code-bg);
  border: 1px solid var(--line);
  font: 500 11.5px var(--mono);
  color: var(--muted);
}
.badge.dup { background: var(--warn-bg); color: var(--warn); border-color: transparent; }
.muted, .empty { color: var(--muted); }
.empty { margin: 4px 0; font-size: 13px; }
.empty.pad { margin: 0; padding: 8px; }
input.narrow { width: 90px; }

.status { margin: 0; font-size: 13px; min-height: 0; }
.status:empty { display: none; }
.status.error {
  padding: 6px 8px;
  border-radius: 6px;
  background: var(--bad-bg);
  color: var(--bad);
}
.status.ok { color: var(--ok); }
.status.info { color: var(--muted); }

table { width: 100%; border-collapse: collapse; }
th, td { padding: 5px 6px; text-align: left; vertical-align: middle; border-bottom: 1px solid var(--line); }
th {
  font-size: 11.5px;
  font-weight: 600;
  color: var(--muted);
  text-transform: uppercase;
  letter-spacing: 0.03em;
  white-space: nowrap;
}
tbody tr:last-child td { border-bottom: 0; }

button {
  font: inherit;
  font-size: 13px;
  padding: 4px 12px;
  border-radius: 6px;
  border: 1px solid var(--accent);
  background: var(--accent);
  color: var(--accent-text);
  cursor: pointer;
}
button:hover:not(:disabled) { filter: brightness(1.08); }
button:disabled { opacity: 0.5; cursor: default; }
button.quiet { background: transparent; color: var(--text); border-color: var(--line); }
button.danger { background: transparent; color: var(--bad); border-color: var(--line); }
button:focus-visible, input:focus-visible, textarea:focus-visible {
  outline: 2px solid var(--accent);
  outline-offset: 1px;
}
input, textarea {
  font-size: 13px;
  padding: 5px 7px;
  border: 1px solid var(--line);
  border-radius: 6px;
  background: var(--code-bg);
  color: var(--text);
}
textarea { width: 100%; resize: vertical; }
label { font-size: 12.5px; color: var(--muted); }
form { display: flex; flex-direction: column; gap: 6px; margin: 0; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.row > .grow { flex: 1; min-width: 120px; }
.field { display: flex; flex-direction: column; gap: 3px; }

.login { max-width: 560px; margin: 40px auto; }
.login form { flex-direction: row; }
.login input { flex: 1; }

.ops { list-style: none; margin: 0; padding: 0; }
.ops li { padding: 8px 0; }
.ops li + li { border-top: 1px solid var(--line); }
.ops .op-head { display: flex; justify-content: space-between; gap: 8px; align-items: baseline; }
.ops .op-device { flex: 1; min-width: 0; font: 600 13px var(--mono); overflow-wrap: anywhere; }
.ops .expires { flex: none; font-size: 12px; color: var(--muted); white-space: nowrap; font-variant-numeric: tabular-nums; }
.ops .op-body { display: flex; justify-content: space-between; align-items: center; gap: 8px; flex-wrap: wrap; }
.ops .code { font: 700 28px/1.25 var(--mono); letter-spacing: 0.1em; white-space: nowrap; }
.ops .actions { display: flex; gap: 6px; }
.ops li.expired { opacity: 0.55; }

.devices { list-style: none; margin: 0; padding: 0; }
.devices li + li { border-top: 1px solid var(--line); }
.device {
  display: grid;
  grid-template-columns: 12px minmax(0, 1fr) auto;
  gap: 8px;
  align-items: center;
  width: 100%;
  padding: 7px 6px;
  border: 0;
  border-radius: 6px;
  background: transparent;
  color: var(--text);
  text-align: left;
}
.device:hover:not(:disabled) { background: var(--select); filter: none; }
.device[aria-pressed='true'] { background: var(--select); box-shadow: inset 3px 0 0 var(--accent); }
.device .id { font-family: var(--mono); font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.device .seen { font-size: 12px; color: var(--muted); white-space: nowrap; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: var(--off); }
.dot.on { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 25%, transparent); }

.device-head {
  display: flex;
  align-items: center;
  gap: 10px;
  margin: 0;
  font-size: 18px;
}
.device-head code { font-size: 18px; }
.device-head .state { font-size: 13px; font-weight: 400; color: var(--muted); }
#device-panel { display: flex; flex-direction: column; gap: 16px; }
#no-device { margin: 0; padding: 24px; text-align: center; }

.toolbar { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.toolbar input[type='search'] { width: 220px; }
.toolbar label { display: inline-flex; gap: 5px; align-items: center; }
.toolbar .muted { margin-left: auto; font-size: 12px; }

.scroll { max-height: 420px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.messages { font-size: 12.5px; }
.messages thead th { position: sticky; top: 0; background: var(--card); z-index: 1; box-shadow: 0 1px 0 var(--line); }
.messages td { font-family: var(--mono); font-size: 12px; white-space: nowrap; }
.messages td.clip { max-width: 160px; overflow: hidden; text-overflow: ellipsis; }
.messages td.payload { max-width: 1px; width: 40%; overflow: hidden; text-overflow: ellipsis; }
.messages td.num { text-align: right; font-variant-numeric: tabular-nums; }
.messages tbody tr { cursor: pointer; }
.messages tbody tr:hover { background: var(--select); }
.messages tbody tr.chosen { background: var(--select); box-shadow: inset 3px 0 0 var(--accent); }
.messages tbody tr.fresh { animation: fresh 1.2s ease-out; }
@keyframes fresh { from { background: color-mix(in srgb, var(--accent) 22%, transparent); } }
.messages .none { color: var(--muted); }

.detail-box { margin-top: 10px; border-top: 1px solid var(--line); padding-top: 8px; }
.detail-box h3 { justify-content: space-between; }
.props { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 0 0 8px; font: 12px var(--mono); }
.props dt { color: var(--muted); }
.props dd { margin: 0; word-break: break-all; }

pre {
  margin: 0;
  padding: 8px 10px;
  max-height: 260px;
  overflow: auto;
  background: var(--code-bg);
  border: 1px solid var(--line);
  border-radius: 6px;
  font-size: 12.5px;
  white-space: pre-wrap;
  word-break: break-word;
}
pre.changed { animation: fresh 1.2s ease-out; }
.twin { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; margin-bottom: 10px; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
@media (max-width: 1280px) {
  .pair { grid-template-columns: minmax(0, 1fr); }
}
@media (max-width: 700px) {
  .twin { grid-template-columns: minmax(0, 1fr); }
}
.actions { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.actions .status { flex: 1; }
.result { margin-top: 8px; }
.result pre.failed { border-color: var(--bad); }
`;
