/**
 * Golden tests of the vm.conf parser, after OpenBSD's regress/usr.sbin/vmd/config: every
 * `golden/NAME.conf` is parsed and compared with
 *
 * - `NAME.out`: the diagnostics, one per line as `formatErrors` prints them, errors first
 *   (absent: there must be none);
 * - `NAME.json`: the parsed configuration (only for configs that parse without errors).
 *
 * The parse is hermetic. The config directory is `/etc` and reads from `golden/` (includes
 * live in `golden/include/`); images exist unless their path has a component starting with
 * `missing`, and those named `*.qcow2` carry the qcow2 magic; relative image paths resolve
 * against `/etc`. Users and groups come from the small tables below. A line
 * `# -D name=value` passes a macro as `vmd -D` would.
 *
 * `UPDATE_GOLDEN=1 node --test dist/tests/config/` rewrites the expected files from what
 * the parser does now: review the diff before committing it.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatErrors, parseConfig, type ParseOptions } from '../../src/config/index.js';

/** The repository root (this file is compiled to dist/tests/config/). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const GOLDEN = join(REPO_ROOT, 'tests/config/golden');
const CONF_DIR = '/etc';
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const USERS: Readonly<Record<string, number>> = { root: 0, joe: 1000, alice: 1001, _vmd: 999 };
const GROUPS: Readonly<Record<string, number>> = { wheel: 0, staff: 50, vmdusers: 900 };

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
    code: 'ENOENT',
  });
}

/** The hermetic host of every golden case. */
function hermetic(macros: Record<string, string>): ParseOptions {
  return {
    macros,
    cwd: CONF_DIR,
    readFile: (path) => {
      const rel = posix.relative(CONF_DIR, path);
      if (rel.startsWith('..') || posix.isAbsolute(rel)) throw enoent(path);
      const file = join(GOLDEN, rel);
      if (!existsSync(file)) throw enoent(path);
      return readFileSync(file, 'utf8');
    },
    realpath: (path) => {
      if (path.split('/').some((part) => part.startsWith('missing'))) throw enoent(path);
      return posix.normalize(path);
    },
    probeDiskFormat: (path) => (path.endsWith('.qcow2') ? 'qcow2' : 'raw'),
    resolveUser: (name) => USERS[name],
    resolveGroup: (name) => GROUPS[name],
  };
}

/** `# -D name=value` lines of a case. */
function caseMacros(text: string): Record<string, string> {
  const macros: Record<string, string> = {};
  for (const m of text.matchAll(/^# -D ([^=\s]+)=(.*)$/gm)) macros[m[1] ?? ''] = m[2] ?? '';
  return macros;
}

/** Compares `actual` with the expected file, or (re)writes it under UPDATE_GOLDEN. */
function expectFile(path: string, actual: string | null): void {
  if (UPDATE) {
    if (actual === null) rmSync(path, { force: true });
    else writeFileSync(path, actual);
    return;
  }
  const expected = existsSync(path) ? readFileSync(path, 'utf8') : null;
  assert.equal(actual, expected, `${path} differs`);
}

const cases = readdirSync(GOLDEN)
  .filter((name) => name.endsWith('.conf'))
  .sort();

for (const name of cases) {
  const base = name.slice(0, -'.conf'.length);
  test(`vm.conf golden case ${base}`, () => {
    const text = readFileSync(join(GOLDEN, name), 'utf8');
    const result = parseConfig(name, hermetic(caseMacros(text)));
    const diagnostics = formatErrors([...result.errors, ...result.warnings]);
    expectFile(join(GOLDEN, `${base}.out`), diagnostics === '' ? null : diagnostics + '\n');
    if (base.startsWith('pass-')) {
      assert.deepEqual(result.errors, [], `${name} must parse without errors`);
      expectFile(join(GOLDEN, `${base}.json`), JSON.stringify(result.config, null, 2) + '\n');
    } else {
      assert.ok(result.errors.length > 0, `${name} must fail`);
    }
  });
}

test('vm.conf golden cases: enough of them, each with its expectation', () => {
  const failing = cases.filter((name) => name.startsWith('fail-'));
  assert.ok(failing.length >= 40, `only ${failing.length} failure cases`);
  for (const name of cases) {
    assert.match(name, /^(pass|fail)-[a-z0-9-]+\.conf$/, 'a case is pass-* or fail-*');
  }
});
