/**
 * The host-CPU side of the differential test: builds harness/difftest.c with gcc (cached by
 * a hash of the source through tests/guests/build_guest.ts's cachedBuild) and
 * runs batches of cases through it.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, cachedBuild, runTool } from '../guests/build_guest.js';
import { caseLine, harnessArgs, parseOutcome } from './scratch.js';
import type { Case, Outcome } from './scratch.js';

const SOURCE = join(REPO_ROOT, 'tests/engine/harness/difftest.c');

/** Builds the harness if needed and returns the path of its executable. */
export async function buildHarness(): Promise<string> {
  const hash = createHash('sha256')
    .update(await readFile(SOURCE))
    .digest('hex')
    .slice(0, 16);
  return cachedBuild(`difftest-${hash}`, (partial) =>
    runTool('gcc', ['-O2', '-Wall', '-Wextra', '-o', partial, SOURCE]),
  );
}

/** Runs `cases` on the host CPU; one outcome per case, in order. */
export function runNative(exe: string, cases: readonly Case[]): Outcome[] {
  const input = cases.map(caseLine).join('\n') + '\n';
  const r = spawnSync(exe, harnessArgs(), {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`difftest exited with ${String(r.status ?? r.signal)}: ${r.stderr}`);
  }
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  if (lines.length !== cases.length) {
    throw new Error(`difftest returned ${lines.length} results for ${cases.length} cases`);
  }
  return lines.map(parseOutcome);
}
