/**
 * Disks on a whole machine: a guest driver (tests/guests/virtio_blk.asm) finds the virtio-blk
 * function on PCI, reads and writes through it with the CPU halted until each interrupt; and
 * the disks a machine is given are opened, checked and locked before the guest starts.
 */

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { createQcow2 } from '../../src/block/qcow2_create.js';
import { createRaw } from '../../src/block/raw.js';
import { SKIP_QEMU, assertClean, qemuContents, tempDir } from '../../src/block/testing.js';
import { Machine, MachineConfigError } from '../../src/vm/machine.js';
import type { MachineConfig } from '../../src/vm/machine.js';
import { buildGuest } from '../guests/build_guest.js';
import { tinyElf } from '../helpers/synthetic_kernels.js';
import { SECTOR, overlayOnBase, sectorOne, sectorTwo } from '../helpers/virtio_blk_disks.js';

const MIB = 1024 * 1024;

async function machine(disks: MachineConfig['disks'], kernel?: string): Promise<Machine> {
  return Machine.create({
    kernel: kernel ?? (await buildGuest('virtio_blk')),
    memorySize: 16 * MIB,
    instructionLimit: 50_000_000,
    console: { write: () => undefined },
    ...(disks === undefined ? {} : { disks }),
  });
}

test('a guest driver reads and writes a raw disk, halting until each interrupt', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await createRaw(path, MIB);
  const image = Buffer.alloc(MIB);
  image.set(sectorOne(), SECTOR);
  await writeFile(path, image);
  const m = await machine([{ path }]);
  const stop = await m.runAsync();
  assert.deepEqual(
    stop.kind === 'debug-exit' ? stop.code : stop,
    1,
    'the guest exits with 0 ((0 << 1) | 1): every step worked',
  );
  const after = await readFile(path);
  assert.deepEqual(new Uint8Array(after.subarray(2 * SECTOR, 3 * SECTOR)), sectorTwo());
  assert.deepEqual(new Uint8Array(after.subarray(SECTOR, 2 * SECTOR)), sectorOne());
});

test('the same through a qcow2 overlay: the write lands in the overlay, the base is untouched', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const { base, overlay, baseBytes: image } = await overlayOnBase(dir);
  const m = await machine([{ path: overlay }]);
  const stop = await m.runAsync();
  assert.equal(stop.kind === 'debug-exit' ? stop.code : stop.kind, 1);
  assert.deepEqual(await readFile(base), image, 'the backing file did not change');
  if (SKIP_QEMU === false) {
    assertClean(overlay);
    const contents = await qemuContents(overlay, dir);
    assert.deepEqual(new Uint8Array(contents.subarray(2 * SECTOR, 3 * SECTOR)), sectorTwo());
  }
});

test('bad disks are refused before the guest starts, naming the file', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const kernel = join(dir, 'kernel.elf');
  await writeFile(kernel, tinyElf(0x100000));
  const missing = join(dir, 'missing.raw');
  const corrupt = join(dir, 'corrupt.qcow2');
  await writeFile(corrupt, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(100)]));
  const orphan = join(dir, 'orphan.qcow2');
  await createQcow2(orphan, { size: MIB, backingFile: 'gone.raw', backingFormat: 'raw' });
  const ok = join(dir, 'ok.raw');
  await createRaw(ok, MIB);
  const cases: [string, MachineConfig['disks'], RegExp][] = [
    ['a missing image', [{ path: missing }], /^disk .*missing\.raw: no such file or directory$/],
    [
      'an unknown format',
      [{ path: ok, format: 'vmdk' as 'raw' }],
      /ok\.raw: unknown disk format "vmdk"/,
    ],
    ['a corrupt qcow2 image', [{ path: corrupt }], /^disk .*corrupt\.qcow2: /],
    ['a missing backing file', [{ path: orphan }], /orphan\.qcow2: backing file gone\.raw/],
    ['five disks', Array(5).fill({ path: ok }) as MachineConfig['disks'], /at most 4/],
  ];
  for (const [what, disks, message] of cases) {
    await assert.rejects(machine(disks, kernel), (error: unknown) => {
      assert.ok(error instanceof MachineConfigError, `${what}: ${String(error)}`);
      assert.match(error.message, message, what);
      return true;
    });
  }
});

test('a disk in use by another machine is refused until that machine has closed it', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const kernel = join(dir, 'kernel.elf');
  await writeFile(kernel, tinyElf(0x100000));
  const path = join(dir, 'shared.raw');
  await createRaw(path, MIB);
  const first = await machine([{ path }], kernel);
  await assert.rejects(machine([{ path }], kernel), /shared\.raw: .*in use/);
  await assert.rejects(machine([{ path, readOnly: true }], kernel), /in use/, 'no reader either');
  await first.close();
  // A machine that fails on its second disk lets go of its first.
  await assert.rejects(machine([{ path }, { path: join(dir, 'x.raw') }], kernel), /x\.raw/);
  const second = await machine([{ path }], kernel);
  await second.close();
  const readers = [await machine([{ path, readOnly: true }], kernel)];
  readers.push(await machine([{ path, readOnly: true }], kernel));
  await assert.rejects(machine([{ path }], kernel), /in use/, 'no writer while there are readers');
  for (const m of readers) await m.close();
});
