/**
 * The software engine against the host CPU: at least 100,000 generated snippets covering every
 * form of the opcode table (tests/engine/cases.ts), each run natively by harness/difftest.c and
 * in the engine; registers, flags (undefined ones masked), faults and scratch memory must match.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { describe as explain } from './compare.js';
import { runDifferential } from './differ.js';

const SEED = 0x5eed_2026;
const COUNT = 120_000;
/** Mismatches printed in full; the rest are counted per form. */
const SHOWN = 12;

/**
 * The host CPU's vendor. The engine reports AuthenticAMD and follows AMD where vendors differ
 * (MOVSXD r16 reads 32 bits; ENTER checks the new stack top), so Intel hosts may disagree there.
 */
function hostVendor(): string {
  try {
    return /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

test(
  'differential: the software engine matches the host CPU on every table form',
  { skip: process.arch !== 'x64' ? 'needs an x86-64 host' : false, timeout: 600_000 },
  async (t) => {
    const r = await runDifferential({ seed: SEED, count: COUNT });
    const line =
      `differential: ${r.cases} cases, ${r.forms} forms (${r.variants} variants), ` +
      `${r.byLabel.reduce((n, [, k]) => n + k, 0)} mismatches, ${r.seconds.toFixed(1)} s ` +
      `(host ${hostVendor()})`;
    t.diagnostic(line);
    if (r.mismatches.length === 0) return;
    const summary = r.byLabel.map(([label, n]) => `  ${n} × ${label}`).join('\n');
    const details = r.mismatches.slice(0, SHOWN).map((m) => explain(m.case, m.diffs));
    assert.fail(`mismatching forms:\n${summary}\n\nfirst cases:\n${details.join('\n\n')}`);
  },
);
