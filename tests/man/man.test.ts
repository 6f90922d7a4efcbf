/**
 * The manual pages in man/: each must pass `mandoc -Tlint` without a message at WARNING level
 * or above (style notes are allowed), and vmctl.8 must list every vmctl command. mandoc is
 * run from man/ so that the pages' references to each other resolve; the lint test is
 * skipped where mandoc is not installed (Debian: apt-get install mandoc).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../guests/build_guest.js';

const MAN = join(REPO_ROOT, 'man');
const PAGES = ['vmd.8', 'vmctl.8', 'vm.conf.5'];

/** Every vmctl command, as vmctl.8's command list must name it. */
const VMCTL_COMMANDS = [
  'console',
  'create',
  'load',
  'log',
  'pause',
  'reload',
  'reset',
  'show',
  'start',
  'status',
  'stop',
  'unpause',
  'wait',
];

/** mandoc's message levels from WARNING up (mandoc(1), DIAGNOSTICS). */
const SERIOUS = /: (WARNING|ERROR|UNSUPP|BADARG|SYSERR): /;

/** Why the lint tests are skipped, or false when mandoc can run. */
const NO_MANDOC =
  spawnSync('mandoc', ['-Tlint', '/dev/null']).error === undefined
    ? false
    : 'mandoc is not installed';

for (const page of PAGES) {
  test(`mandoc -Tlint finds no warning in ${page}`, { skip: NO_MANDOC }, () => {
    const r = spawnSync('mandoc', ['-Tlint', '-Wwarning', page], { cwd: MAN, encoding: 'utf8' });
    const output = `${r.stdout}${r.stderr}`;
    assert.deepEqual(
      output.split('\n').filter((line) => SERIOUS.test(line)),
      [],
    );
    assert.equal(r.status, 0, output);
  });
}

test('vmctl.8 lists every vmctl command', () => {
  const source = readFileSync(join(MAN, 'vmctl.8'), 'utf8');
  // An entry starts `.It Cm name`, `.It Xo Cm name`, or `.It Xo` with `.Cm name` on the next line.
  const listed = new Set(
    Array.from(source.matchAll(/^\.It (?:Xo(?: |\n\.))?Cm (\S+)/gm), (m) => m[1] ?? ''),
  );
  for (const command of VMCTL_COMMANDS) {
    assert.ok(listed.has(command), `vmctl.8 does not list the command ${command}`);
  }
});
