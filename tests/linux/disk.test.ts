/**
 * Debian's kernel on the software engine with virtio disks: a raw and a qcow2 image appear as
 * /dev/vda and /dev/vdb; what the guest writes with dd survives a graceful power-off
 * (Ctrl-Alt-Del, which Linux turns into SIGINT to init) and a new boot, and lands where the host and qemu-img find it;
 * through a qcow2 overlay the guest reads its base and writes to the overlay only.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { createImage } from '../../src/block/create.js';
import { openImage } from '../../src/block/open.js';
import {
  SKIP_QEMU,
  assertClean,
  fileHash,
  qemuContents,
  tempDir,
} from '../../src/block/testing.js';
import { GUEST_SHUTDOWN_MARKER } from '../../src/images/initramfs.js';
import { withoutApt } from '../images/debian_guest.js';
import { bootGuest } from './guest_session.js';
import type { GuestSession } from './guest_session.js';

const MiB = 1024 * 1024;
const DISK_SIZE = 64 * MiB;
/** Where the pattern goes on the qcow2 disk: mid-disk, so clusters are allocated there. */
const QCOW2_OFFSET_MIB = 40;
/** Where a copy goes just before power-off, left for process 1's sync to write out. */
const UNSYNCED_OFFSET_MIB = 50;

/** A pattern the guest makes with `seq FIRST LAST` and the host can compute. */
class SeqPattern {
  readonly command: string;
  readonly bytes: Buffer;
  readonly sha256: string;
  constructor(first: number, last: number) {
    this.command = `seq ${first} ${last}`;
    let text = '';
    for (let i = first; i <= last; i++) text += `${i}\n`;
    this.bytes = Buffer.from(text, 'latin1');
    this.sha256 = createHash('sha256').update(this.bytes).digest('hex');
  }
}

// Kept small: the guest makes and hashes them at the engine's speed. 224 KiB and 176 KiB,
// several qcow2 clusters (64 KiB) each.
const FIRST = new SeqPattern(1, 40_000);
const SECOND = new SeqPattern(40_001, 70_000);

/** The bytes of `image`'s virtual disk at `offset`, read through the project's block layer. */
async function readImage(path: string, offset: number, length: number): Promise<Buffer> {
  const image = await openImage(path, { readOnly: true });
  try {
    const buffer = Buffer.alloc(length);
    await image.read(offset, buffer);
    return buffer;
  } finally {
    await image.close();
  }
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Guest commands: the checksum of `length` bytes of `device` from `offsetMiB`, read anew. */
function guestChecksum(device: string, offsetMiB: number, length: number): string {
  // Caches dropped first, so the bytes come from the device, not the page cache.
  return (
    'sync; echo 3 >/proc/sys/vm/drop_caches; ' +
    `dd if=${device} bs=64k iflag=skip_bytes,count_bytes skip=${offsetMiB * MiB} ` +
    `count=${length} 2>/dev/null | sha256sum`
  );
}

/** The checksum sha256sum printed in `out` (kernel messages may be interleaved). */
function checksumIn(out: string): string | undefined {
  return /^([0-9a-f]{64}) {2}-$/m.exec(out)?.[1];
}

const skip = withoutApt();

describe('Debian guest with virtio disks', { skip }, () => {
  let dir: string;
  let remove: () => Promise<void>;
  let raw: string;
  let qcow2: string;
  let guest: GuestSession | undefined;

  before(async () => {
    ({ dir, remove } = await tempDir());
    raw = join(dir, 'disk.raw');
    qcow2 = join(dir, 'disk.qcow2');
    await createImage(raw, { format: 'raw', size: DISK_SIZE });
    await createImage(qcow2, { format: 'qcow2', size: DISK_SIZE });
  });

  // A test that fails halfway leaves its guest running, holding the images' locks.
  afterEach(async () => {
    await guest?.dispose();
    guest = undefined;
  });

  after(async () => {
    await remove();
  });

  test('raw and qcow2 disks are vda and vdb; dd writes survive Ctrl-Alt-Del', async () => {
    guest = await bootGuest({ disks: [{ path: raw }, { path: qcow2, format: 'qcow2' }] });
    const g = guest;
    const dmesg = await g.run('dmesg | grep virtio_blk');
    for (const disk of ['vda', 'vdb']) {
      assert.match(
        dmesg,
        new RegExp(
          `virtio_blk virtio\\d+: \\[${disk}\\] ${DISK_SIZE / 512} 512-byte logical blocks`,
        ),
        g.context(),
      );
    }
    const sys = await g.run('ls /sys/block; cat /sys/block/vda/size /sys/block/vdb/ro');
    assert.deepEqual(sys.trim().split(/\s+/), ['vda', 'vdb', String(DISK_SIZE / 512), '0']);

    const made = await g.run(`${FIRST.command} >/tmp/pattern; wc -c </tmp/pattern`);
    assert.equal(made.trim(), String(FIRST.bytes.length), g.context());
    await g.run('dd if=/tmp/pattern of=/dev/vda bs=64k conv=fsync 2>/dev/null');
    await g.run(`dd if=/tmp/pattern of=/dev/vdb bs=1M seek=${QCOW2_OFFSET_MIB} 2>/dev/null`);
    for (const [device, offset] of [
      ['/dev/vda', 0],
      ['/dev/vdb', QCOW2_OFFSET_MIB],
    ] as const) {
      const out = await g.run(guestChecksum(device, offset, FIRST.bytes.length));
      assert.equal(checksumIn(out), FIRST.sha256, `${device} reads back\n${g.context()}`);
    }

    // A copy left in the page cache, then Ctrl-Alt-Del: Linux signals process 1, which syncs
    // and powers off.
    await g.run(`dd if=/tmp/pattern of=/dev/vdb bs=1M seek=${UNSYNCED_OFFSET_MIB} 2>/dev/null`);
    const from = g.output.length;
    assert.ok(g.pressCtrlAltDel(), `the keyboard takes the keys\n${g.context()}`);
    const stop = await g.done;
    assert.equal(stop.kind, 'halted', g.context());
    assert.ok(
      g.output.slice(from).includes(`${GUEST_SHUTDOWN_MARKER} (poweroff on SIGINT)`),
      g.context(),
    );
  });

  test('the host finds the patterns in both images, and qemu-img check is clean', async () => {
    const length = FIRST.bytes.length;
    assert.equal(sha256(await readImage(raw, 0, length)), FIRST.sha256, 'raw image at 0');
    for (const offset of [QCOW2_OFFSET_MIB, UNSYNCED_OFFSET_MIB]) {
      const inQcow2 = await readImage(qcow2, offset * MiB, length);
      assert.equal(sha256(inQcow2), FIRST.sha256, `qcow2 image at ${offset} MiB`);
    }
    if (SKIP_QEMU === false) {
      assertClean(qcow2);
      const seen = await qemuContents(qcow2, dir);
      const at = QCOW2_OFFSET_MIB * MiB;
      assert.equal(sha256(seen.subarray(at, at + length)), FIRST.sha256, "qemu's view");
      assert.ok(
        seen.subarray(0, at).every((b) => b === 0),
        'nothing else was written',
      );
    }
  });

  test('after a new boot the guest reads the same checksums', async () => {
    guest = await bootGuest({ disks: [{ path: raw }, { path: qcow2, format: 'qcow2' }] });
    const g = guest;
    const length = FIRST.bytes.length;
    assert.equal(
      checksumIn(await g.run(guestChecksum('/dev/vda', 0, length))),
      FIRST.sha256,
      g.context(),
    );
    assert.equal(
      checksumIn(await g.run(guestChecksum('/dev/vdb', QCOW2_OFFSET_MIB, length))),
      FIRST.sha256,
      g.context(),
    );
    await g.powerOff();
  });

  test('through a qcow2 overlay the guest reads its base and writes the overlay only', async () => {
    const overlay = join(dir, 'overlay.qcow2');
    await createImage(overlay, { format: 'qcow2', base: 'disk.raw' });
    const baseBefore = await fileHash(raw);

    guest = await bootGuest({ disks: [{ path: overlay }] });
    const g = guest;
    const read = await g.run(guestChecksum('/dev/vda', 0, FIRST.bytes.length));
    assert.equal(checksumIn(read), FIRST.sha256, `the base shows through\n${g.context()}`);
    await g.run(`${SECOND.command} >/tmp/second`);
    await g.run('dd if=/tmp/second of=/dev/vda bs=64k conv=notrunc,fsync 2>/dev/null');
    await g.run('dd if=/tmp/second of=/dev/vda bs=1M seek=20 conv=notrunc,fsync 2>/dev/null');
    for (const offset of [0, 20]) {
      const out = await g.run(guestChecksum('/dev/vda', offset, SECOND.bytes.length));
      assert.equal(checksumIn(out), SECOND.sha256, `overlay at ${offset} MiB\n${g.context()}`);
    }
    await g.powerOff();

    assert.equal(await fileHash(raw), baseBefore, 'the base file is unchanged');
    const top = await readImage(overlay, 0, SECOND.bytes.length);
    assert.equal(sha256(top), SECOND.sha256, 'the overlay holds the new bytes');
    // Past the new pattern the first one still shows through from the base.
    const rest = FIRST.bytes.subarray(SECOND.bytes.length);
    const tail = await readImage(overlay, SECOND.bytes.length, rest.length);
    assert.equal(sha256(tail), sha256(rest), 'past the new bytes the base shows through');
    if (SKIP_QEMU === false) assertClean(overlay);
  });
});
