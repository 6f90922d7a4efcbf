// An open-ended differential campaign: the software engine against the host CPU on random
// snippets from the opcode table, round after round with fresh seeds, until a time or case
// limit. Build first (npm run build).
//
//   node scripts/diff_campaign.mjs [--seed N] [--seconds S] [--cases N] [--round N]
//                                  [--match REGEX] [--show N]
//
// --seed     first seed (default: from the clock; printed, so a failure can be replayed)
// --seconds  stop after this long (default 60)
// --cases    stop after this many cases (default: no limit)
// --round    cases per seed (default 50000)
// --match    only variants whose label matches (e.g. 'shld|shrd', 'mem$')
// --show     mismatches printed in full (default 5)
// Exit status 1 when anything mismatched.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { runDifferential } = await import(join(root, 'dist/tests/engine/differ.js'));
const { describe } = await import(join(root, 'dist/tests/engine/compare.js'));

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    cases: { type: 'string' },
    round: { type: 'string', default: '50000' },
    match: { type: 'string' },
    show: { type: 'string', default: '5' },
  },
});
const first = values.seed !== undefined ? Number(values.seed) : Date.now() % 0x7fff_ffff;
const limit = Number(values.seconds) * 1000;
const maxCases = values.cases !== undefined ? Number(values.cases) : Infinity;
const round = Number(values.round);
const show = Number(values.show);
const re = values.match !== undefined ? new RegExp(values.match) : undefined;
const filter = re ? (v) => re.test(v.label) : undefined;

const start = Date.now();
let total = 0;
let bad = 0;
const perLabel = new Map();
let shown = 0;
for (let seed = first; Date.now() - start < limit && total < maxCases; seed++) {
  const count = Math.min(round, maxCases - total);
  const r = await runDifferential({ seed, count, filter, maxMismatches: show });
  total += r.cases;
  for (const [label, n] of r.byLabel) {
    perLabel.set(label, (perLabel.get(label) ?? 0) + n);
    bad += n;
  }
  for (const m of r.mismatches) {
    if (shown++ < show) console.log(`\nseed ${seed}:\n${describe(m.case, m.diffs)}`);
  }
  console.log(
    `seed ${seed}: ${r.cases} cases, ${r.byLabel.length} mismatching variants ` +
      `(${r.seconds.toFixed(1)} s); total ${total} cases, ${bad} mismatches`,
  );
}
if (perLabel.size > 0) {
  console.log('\nmismatches per variant:');
  for (const [label, n] of [...perLabel].sort((a, b) => b[1] - a[1]))
    console.log(`  ${n} × ${label}`);
}
console.log(`campaign from seed ${first}: ${total} cases, ${bad} mismatches`);
process.exit(bad > 0 ? 1 : 0);
