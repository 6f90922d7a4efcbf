/**
 * The write ordering, tested by crashing: a write that allocates L2 tables, data clusters,
 * refcount blocks and a larger refcount table is cut short before each of its file writes in
 * turn (every write from there on is lost). Whatever was written before must leave an image
 * that `qemu-img check` finds free of corruption (leaked clusters are allowed) and that still
 * holds all the data written before.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Qcow2Image } from './qcow2.js';
import { createQcow2 } from './qcow2_create.js';
import { Rng, SKIP_QEMU, qemuCheck, tempDir, sameBytes } from './testing.js';

const KIB = 1024;
const MIB = 1024 * KIB;

type Write = (...args: unknown[]) => Promise<unknown>;

/** Counts FileHandle writes and fails the `failAt`-th one and all after it, while armed. */
class Crasher {
  armed = false;
  count = 0;
  failAt = Infinity;
  private proto: { write: Write } | undefined;
  private original: Write | undefined;

  async install(anyFile: string): Promise<void> {
    const handle = await open(anyFile, 'r');
    this.proto = Object.getPrototypeOf(handle) as { write: Write };
    await handle.close();
    const original = this.proto.write;
    this.original = original;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const crasher = this;
    this.proto.write = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      if (crasher.armed && ++crasher.count >= crasher.failAt) {
        return Promise.reject(new Error('simulated crash'));
      }
      return original.apply(this, args);
    };
  }

  uninstall(): void {
    if (this.proto !== undefined && this.original !== undefined) this.proto.write = this.original;
  }

  arm(failAt: number): void {
    this.armed = true;
    this.count = 0;
    this.failAt = failAt;
  }

  disarm(): number {
    this.armed = false;
    return this.count;
  }
}

test(
  'a crash at any point of an allocating write leaves no corruption',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const before = join(dir, 'before.qcow2');
    // 512-byte clusters and 64-bit refcounts: the first refcount table covers 2 MiB of file.
    await createQcow2(before, { size: 16 * MIB, clusterBits: 9, refcountOrder: 6 });
    const rng = new Rng(7);
    const expected = new Uint8Array(16 * MIB);
    const image = await Qcow2Image.open(before);
    for (let i = 0; i < 12; i++) {
      const offset = rng.below(14 * MIB);
      const data = rng.bytes(100 * KIB + rng.below(50 * KIB));
      await image.write(offset, data);
      expected.set(data, offset);
    }
    const tableBefore = image.header.refcountTableOffset;
    await image.close();
    const last = { offset: 15 * MIB + 100, data: rng.bytes(600 * KIB) };

    const crasher = new Crasher();
    await crasher.install(before);
    t.after(() => {
      crasher.uninstall();
    });

    // A dry run counts the writes and shows that the refcount table moves.
    const dry = join(dir, 'dry.qcow2');
    await copyFile(before, dry);
    const dryImage = await Qcow2Image.open(dry);
    crasher.arm(Infinity);
    await dryImage.write(last.offset, last.data);
    const writes = crasher.disarm();
    await dryImage.close();
    const moved = await Qcow2Image.open(dry, { readOnly: true });
    assert.notEqual(moved.header.refcountTableOffset, tableBefore, 'the refcount table moved');
    await moved.close();
    assert.ok(writes >= 6, `${writes} writes`);

    for (let failAt = 1; failAt <= writes; failAt++) {
      const path = join(dir, `crash-${failAt}.qcow2`);
      await copyFile(before, path);
      const victim = await Qcow2Image.open(path);
      crasher.arm(failAt);
      await assert.rejects(victim.write(last.offset, last.data), /simulated crash/);
      crasher.disarm();
      await assert.rejects(victim.write(0, new Uint8Array(1)), /an earlier write failed/);
      await victim.close();
      const report = qemuCheck(path);
      assert.equal(
        report.corruptions ?? 0,
        0,
        `crash before write ${failAt}: ${JSON.stringify(report)}`,
      );
      assert.equal(report['check-errors'], 0, `crash before write ${failAt}`);
      const after = await Qcow2Image.open(path, { readOnly: true });
      const seen = new Uint8Array(15 * MIB);
      await after.read(0, seen);
      await after.close();
      assert.ok(
        sameBytes(seen, expected.subarray(0, 15 * MIB)),
        `crash before write ${failAt}: earlier data intact`,
      );
    }
  },
);
