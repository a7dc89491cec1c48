import fs from 'node:fs';

for (const f of fs.readdirSync('.').filter((f) => f.startsWith('results-kill-'))) {
  const { name, LEN, batch, flush, idb, opfs, rows } = JSON.parse(fs.readFileSync(f, 'utf8'));
  const R = rows.filter((r) => r.round > 0);
  const ver = R.filter((r) => r.v);
  const tally = (xs) => {
    const counts = {};
    for (const x of xs) counts[x] = (counts[x] || 0) + 1;
    return counts;
  };
  const s = {
    name,
    LEN,
    batch,
    flush,
    killRoundsEvaluated: R.length,
    hangs: R.filter((r) => r.hang).length,
    opfs:
      opfs === '0'
        ? 'n/a'
        : {
            roundsWithMissingReportedRecords: ver.filter((r) => r.v.opfs.missing > 0).length,
            missingTotal: ver.reduce((a, r) => a + (r.v.opfs.missing || 0), 0),
            fileMissing: ver.filter((r) => r.v.opfs.fileMissing).length,
            rootErrors: ver.filter((r) => r.v.opfs.rootError).length,
            stopReasons: tally(ver.map((r) => r.v.opfs.stop)),
            tornTailRounds: ver.filter((r) => r.v.opfs.tail > 0).length,
            tornTailBytes: ver.filter((r) => r.v.opfs.tail > 0).map((r) => r.v.opfs.tail),
            nonContiguous: ver.filter((r) => r.v.opfs.contiguous === false).length,
            resets: ver.filter((r) => r.v.opfs.reset).length,
            extraBeyondReported: ver.map(
              (r) => (r.v.opfs.last ?? 0) - (r.expect.opfsRanges.at(-1)?.[1] ?? 0),
            ),
          },
    idb:
      idb === '0'
        ? 'n/a'
        : {
            roundsOpenFailed: ver.filter((r) => r.v.idb.openErrors?.length).length,
            openErrors: ver.flatMap((r) => r.v.idb.openErrors || []).map((e) => `${e.name}: ${e.message}`),
            roundsRecreatedFromScratch: ver.filter((r) => r.v.idb.oldVersion === 0).length,
            roundsWithMissingCommitted: ver.filter((r) => r.v.idb.missing > 0).length,
            missingTotal: ver.reduce((a, r) => a + (r.v.idb.missing || 0), 0),
            badValues: ver.reduce((a, r) => a + (r.v.idb.bad || 0), 0),
            resets: ver.filter((r) => r.v.idb.reset).length,
          },
    roundsWithCorruptionLogLines: R.filter((r) => r.logHits.length).map((r) => ({
      round: r.round,
      lines: r.logHits.slice(0, 4),
    })),
    appendedPerRound: (() => {
      const a = R.map((r) => r.progressAtKill.appendedOpfs)
        .filter((x) => x >= 0)
        .sort((x, y) => x - y);
      return { min: a[0], median: a[a.length >> 1], max: a.at(-1), total: a.reduce((x, y) => x + y, 0) };
    })(),
    killDelayMs: (() => {
      const a = R.map((r) => r.killDelayMs)
        .filter(Boolean)
        .sort((x, y) => x - y);
      return { min: a[0], median: a[a.length >> 1], max: a.at(-1) };
    })(),
  };
  console.log(JSON.stringify(s, null, 1));
}
