/**
 * Runs generated cases on the host CPU and in the software engine and collects mismatches:
 * shared by the differential test and scripts/diff_campaign.mjs.
 */

import { generateCases } from './cases.js';
import type { Variant } from './cases.js';
import { compare } from './compare.js';
import { buildHarness, runNative } from './native.js';
import type { Case } from './scratch.js';
import { SnippetRunner } from './snippet.js';

/** Cases per harness process: bounds the size of the piped text. */
const BATCH = 20_000;

/** A case whose outcomes differ. */
export interface Mismatch {
  readonly case: Case;
  readonly diffs: string[];
}

/** What a run found. */
export interface DiffReport {
  readonly cases: number;
  readonly variants: number;
  readonly forms: number;
  readonly mismatches: Mismatch[];
  /** Mismatches per variant label, most frequent first. */
  readonly byLabel: [string, number][];
  readonly seconds: number;
}

/** Options of {@link runDifferential}. */
export interface DiffOptions {
  seed: number;
  count: number;
  /** Only variants this accepts. */
  filter?: (v: Variant) => boolean;
  /** Stop after this many mismatches (default: keep going). */
  maxMismatches?: number;
}

/** Generates `count` cases from `seed` and compares host and engine on each. */
export async function runDifferential(opts: DiffOptions): Promise<DiffReport> {
  const started = performance.now();
  const exe = await buildHarness();
  const runner = await SnippetRunner.create();
  const { cases, variants } = generateCases(opts.seed, opts.count, opts.filter);
  const mismatches: Mismatch[] = [];
  const counts = new Map<string, number>();
  let done = 0;
  for (let at = 0; at < cases.length; at += BATCH) {
    const batch = cases.slice(at, at + BATCH);
    const native = runNative(exe, batch);
    batch.forEach((c, i) => {
      const n = native[i];
      if (n === undefined) return;
      const diffs = compare(c, n, runner.run(c));
      if (diffs.length === 0) return;
      counts.set(c.label, (counts.get(c.label) ?? 0) + 1);
      if (mismatches.length < (opts.maxMismatches ?? Infinity)) mismatches.push({ case: c, diffs });
    });
    done += batch.length;
    if (mismatches.length >= (opts.maxMismatches ?? Infinity)) break;
  }
  return {
    cases: done,
    variants: variants.length,
    forms: new Set(variants.filter((v) => v.bytes === undefined).map((v) => v.form)).size,
    mismatches,
    byLabel: [...counts].sort((a, b) => b[1] - a[1]),
    seconds: (performance.now() - started) / 1000,
  };
}
