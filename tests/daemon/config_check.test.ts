/**
 * `vmd -n` (configtest mode) and vmd refusing to start on a bad configuration, as real
 * processes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGuest } from '../guests/build_guest.js';
import { TestVmd, VMD } from './harness.js';

function withConfig(text: string, run: (path: string, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-n-'));
  try {
    const path = join(dir, 'vm.conf');
    writeFileSync(path, text);
    run(path, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function vmd(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VMD, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, JOURNAL_STREAM: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('vmd -n accepts a good configuration and says "configuration OK"', async () => {
  const kernel = await buildGuest('idle');
  withConfig(
    `kernel="${kernel}"\nvm "one" {\n\tmemory 32M\n\tboot $kernel\n\tcmdline "console=ttyS0"\n}\n`,
    (path) => {
      const r = vmd(['-n', '-f', path]);
      assert.equal(r.stderr, 'configuration OK\n');
      assert.equal(r.status, 0, 'exit status');
      assert.equal(r.stdout, '');
    },
  );
});

test('vmd -n reports every error as file:line: message and exits 1', () => {
  withConfig(
    'vm "a" {\n\tmemory 1G\n\tdisk /nonexistent/a.img\n}\nvm "b" {\n\tboot device floppy\n}\n',
    (path) => {
      const r = vmd(['-n', '-f', path]);
      assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
      assert.equal(
        r.stderr,
        `${path}:3: failed to parse disks: /nonexistent/a.img: No such file or directory\n` +
          `${path}:6: syntax error: unexpected "floppy"\n`,
      );
    },
  );
});

test('vmd -n takes -D macros, which override the file', async () => {
  const kernel = await buildGuest('idle');
  withConfig('kernel="/nonexistent"\nvm "one" {\n\tboot $kernel\n}\n', (path) => {
    assert.equal(vmd(['-n', '-f', path]).status, 1, 'the file alone names a missing kernel');
    const r = vmd(['-n', '-D', `kernel=${kernel}`, '-f', path]);
    assert.equal(r.stderr, 'configuration OK\n');
    assert.equal(r.status, 0);
  });
});

test('vmd with errors in its configuration does not start: exit 1, the errors, no socket', () => {
  withConfig('vm "x" {\n\tmemory lots\n}\n', (path, dir) => {
    const socket = join(dir, 'vmd.sock');
    const r = vmd(['-d', '-f', path], { VMD_SOCKET: socket });
    assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
    assert.equal(r.stderr, `vmd: ${path}:2: failed to parse size: lots: invalid memory size\n`);
    assert.equal(existsSync(socket), false, 'no socket is left');
  });
});

test('vmd rejects operands and unknown options with its usage and status 2', () => {
  const r = vmd(['-x']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: vmd \[-dnv\] \[-D macro=value\] \[-f file\]\n$/);
  assert.equal(vmd(['extra']).status, 2);
});

test('a second vmd on the same socket refuses to start, and the first one serves on', async () => {
  const first = await TestVmd.start('');
  try {
    const r = vmd(['-d', '-f', first.configPath], { VMD_SOCKET: first.socketPath });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `vmd: control process: ${first.socketPath}: a vmd is already running\n`);
    const client = await first.client();
    assert.deepEqual(await client.status(), []);
    client.close();
  } finally {
    assert.equal(await first.stop(), 0);
  }
});
