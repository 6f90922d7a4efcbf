import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, buildGuest } from '../guests/build_guest.js';

const VMD_RUN = join(REPO_ROOT, 'dist/src/bin/vmd_run.js');

function vmdRun(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VMD_RUN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('vmd-run streams the guest console to stdout and exits with the guest code', async () => {
  const r = vmdRun(await buildGuest('hello'));
  assert.equal(r.stdout, 'Hello from the guest\n', r.stderr);
  assert.equal(r.status, 85, `stderr: ${r.stderr}`);
});

test('vmd-run reports a missing kernel in one line, without a stack trace', () => {
  const r = vmdRun('/nonexistent/kernel.elf');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'vmd-run: /nonexistent/kernel.elf: no such file\n');
});

test('vmd-run refuses a kernel that is not ELF unless --flat is given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-run-'));
  try {
    const path = join(dir, 'kernel.txt');
    writeFileSync(path, 'this is not a kernel\n');
    const r = vmdRun(path);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `vmd-run: ${path}: not an ELF file (bad magic); a raw 64-bit image needs the flat option\n`,
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('vmd-run --flat boots a raw image: cli; hlt halts for good and exits 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-run-'));
  try {
    const path = join(dir, 'flat.bin');
    writeFileSync(path, Uint8Array.of(0xfa, 0xf4)); // cli; hlt
    const r = vmdRun('--flat', path);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^vmd-run: guest halted: hlt at rip 0x100001 with interrupts disabled/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('vmd-run reports a guest fault with the address, bytes and registers, and exits 1', async () => {
  const r = vmdRun(await buildGuest('runaway'));
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^vmd-run: guest stopped \(fault\): guest exception #UD at rip 0x40000000, bytes ff ff/,
  );
  assert.match(r.stderr, /rip=0000000040000000/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('vmd-run -vv logs the port accesses nobody claims', async () => {
  const r = vmdRun('-vv', await buildGuest('ports'));
  assert.equal(r.status, 33, r.stderr);
  assert.match(r.stderr, /^vmd-run: unclaimed out port 0x00e9 size 1 value 0x55$/m);
  assert.match(r.stderr, /^vmd-run: unclaimed out port 0x1234 size 4 value 0xdeadbeef$/m);
  assert.match(r.stderr, /^vmd-run: unclaimed in port 0x1234 size 1 value 0xff$/m);
  const quiet = vmdRun(await buildGuest('ports'));
  assert.equal(quiet.stderr, '', 'nothing is logged without -vv');
});

test('vmd-run rejects bad options with its usage', () => {
  const r = vmdRun('-m', 'lots', 'k');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'vmd-run: invalid size "lots"\n');
  const u = vmdRun();
  assert.equal(u.status, 2);
  assert.match(u.stderr, /^vmd-run: usage: vmd-run /);
});
