/**
 * `vmctl create`, run as a command: images checked by QEMU's own tools (`qemu-img check`,
 * `info`, `compare`), the copy (`-i`) between both formats, and vmctl's messages.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { join } from 'node:path';
import { REPO_ROOT } from '../guests/build_guest.js';
import {
  SKIP_QEMU,
  assertClean,
  fileHash,
  qemu,
  qemuInfo,
  tempDir,
} from '../../src/block/testing.js';
import { openPty } from '../../src/sys/pty.js';

const VMCTL = join(REPO_ROOT, 'dist/src/bin/vmctl.js');
const M = 1024 * 1024;

function vmctl(
  cwd: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [VMCTL, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `qemu-img compare`: true when the two images have the same contents. */
function sameContents(a: string, b: string): boolean {
  return spawnSync('qemu-img', ['compare', '-q', a, b]).status === 0;
}

test(
  'create makes sparse raw and empty qcow2 images that qemu-img accepts',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    let r = vmctl(dir, 'create', '-s', '10M', 'disk.raw');
    assert.deepEqual([r.status, r.stderr, r.stdout], [0, 'vmctl: raw imagefile created\n', '']);
    const raw = statSync(join(dir, 'disk.raw'));
    assert.equal(raw.size, 10 * M);
    assert.ok(raw.blocks * 512 < M, `a sparse file, ${raw.blocks} blocks allocated`);
    assert.equal(raw.mode & 0o777, 0o600);

    r = vmctl(dir, 'create', '-s', '3G', 'disk.qcow2');
    assert.deepEqual([r.status, r.stderr], [0, 'vmctl: qcow2 imagefile created\n']);
    assertClean(join(dir, 'disk.qcow2'));
    const info = qemuInfo(join(dir, 'disk.qcow2'));
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 3 * 1024 * M);

    r = vmctl(dir, 'create', '-s', '1500K', 'qcow2:small.img');
    assert.deepEqual(
      [r.status, r.stderr],
      [0, 'vmctl: disk size rounded to 1.0M\nvmctl: qcow2 imagefile created\n'],
    );
    assert.equal(qemuInfo(join(dir, 'small.img'))['virtual-size'], M);
  },
);

test('create refuses an existing image and leaves it as it was', { skip: SKIP_QEMU }, async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  writeFileSync(join(dir, 'taken.qcow2'), 'precious');
  writeFileSync(join(dir, 'input.raw'), Buffer.alloc(M, 1));
  const before = await fileHash(join(dir, 'taken.qcow2'));
  for (const args of [
    ['-s', '1G', 'taken.qcow2'],
    ['-i', 'input.raw', 'taken.qcow2'],
  ]) {
    const r = vmctl(dir, 'create', ...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^vmctl: (create imagefile operation failed|failed to create destination image file): File exists\n$/,
    );
  }
  assert.equal(await fileHash(join(dir, 'taken.qcow2')), before);
});

test(
  'create -b writes an overlay that reads as its base and leaves the base alone',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const base = join(dir, 'images/base.qcow2');
    mkdirSync(join(dir, 'images'));
    qemu('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
    qemu('qemu-io', ['-c', 'write -P 0x5a 1M 128k', '-c', 'write -P 0xa5 63M 64k', base]);
    const baseHash = await fileHash(base);
    // The base is named from the current folder; the overlay records it from its own.
    let r = vmctl(dir, 'create', '-b', 'images/base.qcow2', 'vms/web.qcow2');
    assert.equal(r.status, 1, 'the overlay folder does not exist yet');
    mkdirSync(join(dir, 'vms'));
    r = vmctl(dir, 'create', '-b', 'images/base.qcow2', 'vms/web.qcow2');
    assert.deepEqual([r.status, r.stderr], [0, 'vmctl: qcow2 imagefile created\n']);
    const overlay = join(dir, 'vms/web.qcow2');
    assertClean(overlay);
    const info = qemuInfo(overlay);
    assert.equal(info['backing-filename'], '../images/base.qcow2');
    assert.equal(info['virtual-size'], 64 * M);
    assert.ok(sameContents(overlay, base), 'qemu-img compare: the overlay reads as its base');
    qemu('qemu-io', ['-c', 'write -P 0x11 1M 4k', overlay]);
    assert.equal(await fileHash(base), baseHash, 'writes to the overlay leave the base alone');

    r = vmctl(dir, 'create', '-b', 'images/base.qcow2', '-s', '1G', 'other.qcow2');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^vmctl: create imagefile operation failed: .*does not match the base image's size/,
    );
  },
);

test(
  'create -i copies raw and qcow2 images into either format, skipping zeros',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    // A raw input whose size is not a whole number of MiB or of 64 KiB chunks.
    const raw = join(dir, 'in.raw');
    qemu('qemu-img', ['create', '-q', '-f', 'raw', raw, String(5 * M + 12345)]);
    qemu('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x42 0 4k',
      '-c',
      'write -P 0x43 3M 200k',
      '-c',
      `write -P 0x44 ${5 * M + 12288} 57`,
      raw,
    ]);
    // A qcow2 input with a backing file: the copy has both layers' data and no backing file.
    const lower = join(dir, 'lower.qcow2');
    const upper = join(dir, 'upper.qcow2');
    qemu('qemu-img', ['create', '-q', '-f', 'qcow2', lower, '8M']);
    qemu('qemu-io', ['-c', 'write -P 0x61 0 1M', '-c', 'write -P 0x62 7M 1M', lower]);
    qemu('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'lower.qcow2', '-F', 'qcow2', upper]);
    qemu('qemu-io', ['-c', 'write -P 0x63 512k 1M', upper]);

    for (const [input, output, format] of [
      ['in.raw', 'raw-to-raw.raw', 'raw'],
      ['in.raw', 'raw-to-qcow2.qcow2', 'qcow2'],
      ['upper.qcow2', 'qcow2-to-raw.raw', 'raw'],
      ['upper.qcow2', 'qcow2-to-qcow2.qcow2', 'qcow2'],
    ] as const) {
      const r = vmctl(dir, 'create', '-i', input, output);
      const rounded = input === 'in.raw' ? 'vmctl: destination size rounded to 6 megabytes\n' : '';
      assert.deepEqual(
        [r.status, r.stderr],
        [0, `${rounded}vmctl: ${format} imagefile created\n`],
        `${input} -> ${output}`,
      );
      const out = join(dir, output);
      const info = qemuInfo(out);
      assert.equal(info.format, format);
      assert.equal(info['virtual-size'], input === 'in.raw' ? 6 * M : 8 * M);
      assert.equal(info['backing-filename'], undefined);
      if (format === 'qcow2') assertClean(out);
      assert.ok(sameContents(join(dir, input), out), `qemu-img compare ${input} ${output}`);
    }
    // Only chunks with data were written: the raw copy of the qcow2 input stays sparse.
    const sparse = statSync(join(dir, 'qcow2-to-raw.raw'));
    assert.ok(
      sparse.blocks * 512 <= 3 * M,
      `${sparse.blocks * 512} bytes allocated for 2.5 MiB of data`,
    );

    const bigger = vmctl(dir, 'create', '-i', 'upper.qcow2', '-s', '20M', 'bigger.qcow2');
    assert.equal(bigger.status, 0, bigger.stderr);
    assert.equal(qemuInfo(join(dir, 'bigger.qcow2'))['virtual-size'], 20 * M);
    assert.ok(sameContents(upper, join(dir, 'bigger.qcow2')));

    const smaller = vmctl(dir, 'create', '-i', 'upper.qcow2', '-s', '4M', 'smaller.qcow2');
    assert.deepEqual(
      [smaller.status, smaller.stderr],
      [1, 'vmctl: size cannot be smaller than input disk size\n'],
    );
    const missing = vmctl(dir, 'create', '-i', 'missing.qcow2', 'x.qcow2');
    assert.deepEqual(
      [missing.status, missing.stderr],
      [1, 'vmctl: failed to open source image file: No such file or directory\n'],
    );
    assert.throws(
      () => statSync(join(dir, 'smaller.qcow2')),
      'a failed copy leaves no image behind',
    );
  },
);

test(
  'create -i shows a progress bar when standard error is a terminal',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    qemu('qemu-img', ['create', '-q', '-f', 'raw', join(dir, 'in.raw'), '4M']);
    qemu('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 0 4M', join(dir, 'in.raw')]);
    const pty = openPty();
    const child = spawn(process.execPath, [VMCTL, 'create', '-i', 'in.raw', 'out.qcow2'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', pty.slave],
    });
    closeSync(pty.slave);
    const chunks: Buffer[] = [];
    const reader = new ReadStream(pty.master);
    reader.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Once vmctl has exited, nobody holds the terminal: reading it fails (EIO) and it closes.
    const drained = new Promise((resolve) => reader.on('close', resolve));
    reader.on('error', () => reader.destroy());
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await drained;
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(status, 0, text);
    assert.match(text, /\rout\.qcow2 {3}0% \|/, 'the bar starts at 0%');
    assert.match(text, /\rout\.qcow2 100% \|\*{30}\| +4\.0M\/4\.0M/, 'the bar ends full');
    assert.match(text, /vmctl: qcow2 imagefile created/);
    assert.ok(sameContents(join(dir, 'in.raw'), join(dir, 'out.qcow2')));
    assert.equal(readFileSync(join(dir, 'out.qcow2')).subarray(0, 4).toString('latin1'), 'QFI\xfb');
  },
);
