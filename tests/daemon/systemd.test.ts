/**
 * etc/vmd.service: systemd-analyze verify accepts it (where systemd's tools are installed),
 * with ExecStart pointed at the built vmd, and it runs vmd as vmd(8) "Starting vmd at boot"
 * describes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../guests/build_guest.js';
import { VMD } from './harness.js';

const UNIT = readFileSync(join(REPO_ROOT, 'etc/vmd.service'), 'utf8');
const NO_ANALYZE =
  spawnSync('systemd-analyze', ['--version']).error === undefined
    ? false
    : 'systemd-analyze is not installed';

/** The unit's `Key=value` settings of `[section]`. */
function settings(section: string): Map<string, string> {
  const body = UNIT.split(/^\[/m).find((part) => part.startsWith(`${section}]`)) ?? '';
  const entries = body
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line): [string, string] => [
      line.slice(0, line.indexOf('=')),
      line.slice(line.indexOf('=') + 1),
    ]);
  return new Map(entries);
}

test('vmd.service runs vmd -d with $VMD_FLAGS from /etc/default/vmd; reload is SIGHUP; SIGTERM to vmd alone', () => {
  const service = settings('Service');
  assert.equal(service.get('Type'), 'simple');
  assert.equal(service.get('EnvironmentFile'), '-/etc/default/vmd');
  assert.match(service.get('ExecStart') ?? '', /\/vmd -d \$VMD_FLAGS$/);
  assert.equal(service.get('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(service.get('KillMode'), 'mixed');
  assert.ok(
    Number(service.get('TimeoutStopSec')) > 30,
    'longer than the 30 s guests have to shut down',
  );
  const defaults = readFileSync(join(REPO_ROOT, 'etc/default/vmd'), 'utf8');
  assert.match(defaults, /^VMD_FLAGS=""$/m);
});

test('systemd-analyze verify accepts vmd.service', { skip: NO_ANALYZE }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-unit-'));
  try {
    const unit = join(dir, 'vmd.service');
    // verify checks that ExecStart's program exists: here, node with the built vmd.
    writeFileSync(unit, UNIT.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${VMD}`));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stderr, '', 'no warning');
  } finally {
    rmSync(dir, { recursive: true });
  }
});
