/**
 * The files vmd's parent opens for a VM process: the machine uses the parent's descriptors
 * and nothing else, so that changing a path after the parent's checks changes nothing; files
 * a non-privileged user named, backing files included, must be theirs to use; a FIFO named as
 * a kernel is refused rather than waited on.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { createQcow2 } from '../../src/block/qcow2_create.js';
import { SKIP_QEMU, qemuContents, tempDir } from '../../src/block/testing.js';
import { accountsFromText } from '../../src/daemon/accounts.js';
import { ERRNO } from '../../src/daemon/codes.js';
import { openVmFiles, type FileCheck } from '../../src/daemon/vm_files.js';
import { StartError } from '../../src/daemon/vm_spec.js';
import { Machine } from '../../src/vm/machine.js';
import { buildGuest } from '../guests/build_guest.js';
import { SECTOR, overlayOnBase } from '../helpers/virtio_blk_disks.js';
import { testSpec } from '../vm/vm_harness.js';

const MIB = 1024 * 1024;
const USER = 65534;
const accounts = accountsFromText(
  ['root:x:0:0::/root:/bin/sh', `nobody:x:${USER}:${USER}::/:/bin/sh`].join('\n'),
  ['root:x:0:', `nogroup:x:${USER}:`].join('\n'),
);

/** The check for files `USER` named. */
function namedBy(...paths: string[]): FileCheck {
  return { uid: USER, paths: new Set(paths), accounts };
}

test('the machine uses the descriptors the parent opened, whatever the paths name afterwards', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const kernel = join(dir, 'kernel');
  copyFileSync(await buildGuest('virtio_blk'), kernel);
  const { base, overlay } = await overlayOnBase(dir);

  const spec = testSpec({ boot: kernel, disks: [{ path: overlay, format: 'qcow2' }] });
  const files = await openVmFiles(spec, 6, null);
  t.after(() => {
    files.close();
  });
  assert.deepEqual(files.specs, [
    { path: kernel, fd: 6, writable: false },
    { path: overlay, fd: 7, writable: true },
    { path: base, fd: 8, writable: false },
  ]);

  // Every path now names something else: a kernel that is no kernel, empty disks.
  for (const path of [kernel, overlay, base]) renameSync(path, `${path}.old`);
  writeFileSync(kernel, 'not a kernel');
  await createQcow2(overlay, { size: MIB });
  writeFileSync(base, Buffer.alloc(MIB));

  const held = files.specs.map((file, i) => ({ ...file, fd: files.descriptors[i] ?? -1 }));
  const machine = await Machine.create({
    kernel,
    memorySize: 16 * MIB,
    instructionLimit: 50_000_000,
    console: { write: () => undefined },
    disks: [{ path: overlay, format: 'qcow2' }],
    files: held,
  });
  const stop = await machine.runAsync();
  assert.equal(
    stop.kind === 'debug-exit' ? stop.code : `${stop.kind}: ${stop.detail}`,
    1,
    'the guest ran from the first kernel and found sector 1 of the first base',
  );
  assert.deepEqual(await readFile(base), Buffer.alloc(MIB), 'the new base is untouched');
  if (SKIP_QEMU === false) {
    const written = await qemuContents(`${overlay}.old`, dir);
    assert.notDeepEqual(
      written.subarray(2 * SECTOR, 3 * SECTOR),
      Buffer.alloc(SECTOR),
      'the guest wrote sector 2 to the first overlay',
    );
  }
});

test('a machine given its files refuses a path it was not given', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const kernel = join(dir, 'kernel');
  copyFileSync(await buildGuest('virtio_blk'), kernel);
  const files = await openVmFiles(testSpec({ boot: kernel }), 6, null);
  t.after(() => {
    files.close();
  });
  const held = files.specs.map((file, i) => ({ ...file, fd: files.descriptors[i] ?? -1 }));
  await assert.rejects(
    Machine.create({
      kernel,
      memorySize: 16 * MIB,
      console: { write: () => undefined },
      disks: [{ path: join(dir, 'other.raw') }],
      files: held,
    }),
    /other\.raw: not opened for \w+ by vmd/,
  );
});

test('files a user named must be theirs to use, backing files included', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const base = join(dir, 'base.raw');
  const overlay = join(dir, 'overlay.qcow2');
  writeFileSync(base, Buffer.alloc(MIB));
  await createQcow2(overlay, { size: MIB, backingFile: 'base.raw', backingFormat: 'raw' });
  const kernel = join(dir, 'kernel');
  copyFileSync(await buildGuest('virtio_blk'), kernel);
  chmodSync(overlay, 0o666);
  chmodSync(kernel, 0o644);
  chmodSync(base, 0o600);
  const spec = testSpec({ boot: kernel, disks: [{ path: overlay, format: 'qcow2' }] });

  const refused = await openVmFiles(spec, 6, namedBy(kernel, overlay)).then(
    (files) => {
      files.close();
      return 'opened';
    },
    (error: unknown) => error,
  );
  assert.ok(refused instanceof StartError, `expected a StartError, got ${String(refused)}`);
  assert.equal(refused.code, ERRNO.EPERM);
  assert.match(refused.message, /no read access to .*base\.raw/);

  // Named by nobody (vm.conf's files are root's to choose): the same files are fine.
  (await openVmFiles(spec, 6, null)).close();
  // Readable by the user, the base is fine too; their kernel needs to be readable as well.
  chmodSync(base, 0o644);
  (await openVmFiles(spec, 6, namedBy(kernel, overlay))).close();
  chmodSync(kernel, 0o600);
  await assert.rejects(openVmFiles(spec, 6, namedBy(kernel, overlay)), (error: unknown) => {
    assert.ok(error instanceof StartError);
    assert.equal(error.code, ERRNO.EPERM);
    assert.match(error.message, /no read access to .*kernel/);
    return true;
  });
  // A disk the user may read but not write.
  chmodSync(kernel, 0o644);
  chmodSync(overlay, 0o644);
  await assert.rejects(openVmFiles(spec, 6, namedBy(kernel, overlay)), /no read-write access/);
});

test('a FIFO named as the kernel is refused, not waited on', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const fifo = join(dir, 'fifo');
  const made = spawnSync('mkfifo', [fifo]);
  assert.equal(made.status, 0, made.stderr.toString());
  await assert.rejects(openVmFiles(testSpec({ boot: fifo }), 6, null), (error: unknown) => {
    assert.ok(error instanceof StartError);
    assert.equal(error.code, ERRNO.EPERM);
    assert.match(error.message, /fifo: not a regular file/);
    return true;
  });
});
