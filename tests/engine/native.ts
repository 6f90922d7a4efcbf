/**
 * The host-CPU side of the differential test: builds harness/difftest.c with gcc (cached
 * under `.cache/` by a hash of the source, as tests/guests/build_guest.ts caches guests) and
 * runs batches of cases through it.
 */

import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../guests/build_guest.js';
import { caseLine, harnessArgs, parseOutcome } from './scratch.js';
import type { Case, Outcome } from './scratch.js';

const run = promisify(execFile);
const SOURCE = join(REPO_ROOT, 'tests/engine/harness/difftest.c');
const CACHE = join(REPO_ROOT, '.cache');

/** Builds the harness if needed and returns the path of its executable. */
export async function buildHarness(): Promise<string> {
  const text = await readFile(SOURCE);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const exe = join(CACHE, `difftest-${hash}`);
  try {
    await stat(exe);
    return exe;
  } catch {
    // not built yet
  }
  await mkdir(CACHE, { recursive: true });
  const partial = `${exe}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-Wall', '-Wextra', '-o', partial, SOURCE]);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('gcc is not installed (Debian: apt-get install gcc)', { cause: error });
    }
    throw new Error(`gcc failed on ${SOURCE}: ${e.stderr ?? e.message}`, { cause: error });
  }
  await rename(partial, exe);
  return exe;
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
