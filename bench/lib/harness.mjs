// The measuring part of `npm run bench`: alternating runs of ours and the baseline, medians and spreads, the rows
// of bench/results.json, and the table printed at the end.
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

/**
 * Runs the measured functions in turn: `warmup` untimed rounds, then `runs` measured rounds, each round calling
 * every function once (ours, baseline, ours, baseline, …) so that all of them see the same machine. Each function
 * returns one figure (msg/s, ms, …). Returns every measured figure by the functions' names.
 *
 * @template {string} K
 * @param {{ runs: number, warmup?: number, measure: Record<K, (i: number) => Promise<number>> }} spec
 * @returns {Promise<Record<K, number[]>>}
 */
export async function alternate({ runs, warmup = 1, measure }) {
  const result = Object.fromEntries(Object.keys(measure).map((key) => [key, []]));
  for (let i = 0; i < warmup + runs; i++) {
    for (const [key, fn] of Object.entries(measure)) {
      const value = await fn(i);
      if (i >= warmup) result[key].push(value);
    }
  }
  return result;
}

/** Runs `fn` `warmup + runs` times and keeps the last `runs` figures. */
export async function repeat({ runs, warmup = 1, fn }) {
  return (await alternate({ runs, warmup, measure: { fn } })).fn;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** (max − min) / median: 0.10 means the runs spread over 10 % of the median. */
export function relativeSpread(values) {
  if (values.length < 2) return null;
  const m = median(values);
  if (m === 0) return 0;
  return round((Math.max(...values) - Math.min(...values)) / Math.abs(m), 3);
}

export function round(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return value ?? null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const compare = {
  '>=': (a, b) => a >= b,
  '<=': (a, b) => a <= b,
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
};

/**
 * One row of bench/results.json.
 *
 * `target` is `{ on: 'ratio' | 'ours', op: '>=' | '<=' | '<' | '>', value }`: on the ratio ours / baseline, or on
 * our figure itself (absolute targets: ms, MB). No target: the figure is reported for information (`met: null`).
 */
export function row({
  caseName,
  name,
  unit,
  ours,
  baseline = null,
  baselineName = null,
  target = null,
  digits,
}) {
  const oursValues = Array.isArray(ours) ? ours : [ours];
  const baseValues = baseline === null ? [] : Array.isArray(baseline) ? baseline : [baseline];
  const oursMedian = median(oursValues);
  const baseMedian = baseValues.length > 0 ? median(baseValues) : null;
  const ratio = baseMedian ? oursMedian / baseMedian : null;
  const d = digits ?? (Math.abs(oursMedian) >= 100 ? 0 : 2);
  let met = null;
  if (target) {
    const value = target.on === 'ratio' ? ratio : oursMedian;
    met = value === null ? null : compare[target.op](value, target.value);
  }
  return {
    name,
    unit,
    ours: round(oursMedian, d),
    baseline: baseMedian === null ? null : round(baseMedian, d),
    ratio: ratio === null ? null : round(ratio, 3),
    target: target ? describeTarget(target, unit) : null,
    met,
    runs: oursValues.length,
    spread: { ours: relativeSpread(oursValues), baseline: relativeSpread(baseValues) },
    date: new Date().toISOString(),
    commit: commit(),
    machine: machine(),
    case: caseName,
    baselineName,
    samples: { ours: oursValues.map((v) => round(v, d)), baseline: baseValues.map((v) => round(v, d)) },
  };
}

function describeTarget(target, unit) {
  return target.on === 'ratio'
    ? `ratio ${target.op} ${target.value}`
    : `${target.op} ${target.value} ${unit}`;
}

let commitCache;
export function commit() {
  if (commitCache === undefined) {
    try {
      commitCache = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      commitCache = 'unknown';
    }
  }
  return commitCache;
}

let machineCache;
export function machine() {
  if (machineCache === undefined) {
    const cpu = cpus();
    machineCache = `${cpu[0]?.model.trim() ?? 'cpu'} × ${cpu.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}`;
  }
  return machineCache;
}

/** Formats a figure for the table. */
function show(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'number') return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return String(round(value, 2));
}

/** The table on screen (and in bench/README.md): one line per row, misses marked. */
export function table(rows) {
  const header = [
    'case',
    'figure',
    'unit',
    'ours',
    'baseline (measured in the same run)',
    'value',
    'ratio',
    'target',
    'met',
    'spread',
  ];
  const lines = rows.map((r) => [
    r.case,
    r.name,
    r.unit,
    show(r.ours),
    r.baselineName ?? '—',
    show(r.baseline),
    r.ratio === null ? '—' : `${round(r.ratio, 2)}×`,
    r.target ?? '—',
    r.met === null ? '—' : r.met ? 'yes' : 'MISSED',
    spreadText(r.spread),
  ]);
  return markdown(header, lines);
}

function spreadText(spread) {
  const pct = (v) => (v === null ? '—' : `±${Math.round((v * 100) / 2)}%`);
  return spread.baseline === null ? pct(spread.ours) : `${pct(spread.ours)} / ${pct(spread.baseline)}`;
}

function markdown(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

/** Lines for the targets that were missed, printed after the table. */
export function misses(rows) {
  return rows
    .filter((r) => r.met === false)
    .map(
      (r) =>
        `MISSED  ${r.case}: ${r.name}: ${show(r.ours)} ${r.unit}${r.baseline === null ? '' : ` vs ${show(r.baseline)} (${r.baselineName})`}, ratio ${r.ratio ?? '—'}, target ${r.target}`,
    );
}
