/**
 * The differential test: a seeded sequence of reads and writes at random offsets and lengths
 * applied to a qcow2 image and to a raw mirror, compared after every step, over the whole
 * disk at the end, then through `qemu-img convert` and `qemu-img check`. Set DISK_DIFF_SEED to
 * replay one seed.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DiskImage } from './image.js';
import { Qcow2Image } from './qcow2.js';
import { createQcow2 } from './qcow2_create.js';
import { RawImage, createRaw } from './raw.js';
import { Rng, SKIP_QEMU, assertClean, qemu, qemuContents, tempDir, sameBytes } from './testing.js';

const KIB = 1024;
const MIB = 1024 * KIB;

interface Setup {
  name: string;
  size: number;
  clusterSize: number;
  /** True if the writes outgrow the first refcount table. */
  grows?: boolean;
  /** Makes the qcow2 image and the raw mirror holding the same contents. */
  make(dir: string, rng: Rng): Promise<{ image: string; mirror: string }>;
}

const SETUPS: Setup[] = [
  {
    name: '64 KiB clusters',
    size: 64 * MIB,
    clusterSize: 64 * KIB,
    async make(dir) {
      await createQcow2(join(dir, 'disk.qcow2'), { size: 64 * MIB });
      await createRaw(join(dir, 'mirror.raw'), 64 * MIB);
      return { image: join(dir, 'disk.qcow2'), mirror: join(dir, 'mirror.raw') };
    },
  },
  {
    name: '512-byte clusters, 64-bit refcounts (the refcount table grows)',
    size: 12 * MIB + 1536,
    clusterSize: 512,
    grows: true,
    async make(dir) {
      await createQcow2(join(dir, 'disk.qcow2'), {
        size: 12 * MIB + 1536,
        clusterBits: 9,
        refcountOrder: 6,
      });
      await createRaw(join(dir, 'mirror.raw'), 12 * MIB + 1536);
      return { image: join(dir, 'disk.qcow2'), mirror: join(dir, 'mirror.raw') };
    },
  },
  {
    name: '4 KiB clusters over a qcow2 base with random data',
    size: 24 * MIB,
    clusterSize: 4 * KIB,
    make(dir, rng) {
      const base = join(dir, 'base.qcow2');
      qemu('qemu-img', ['create', '-q', '-f', 'qcow2', base, '20M']);
      const writes: string[] = [];
      for (let i = 0; i < 30; i++) {
        const offset = rng.below(20 * MIB - 200 * KIB);
        writes.push('-c', `write -P ${1 + rng.below(255)} ${offset} ${1 + rng.below(200 * KIB)}`);
      }
      qemu('qemu-io', [...writes, base]);
      const image = join(dir, 'disk.qcow2');
      const options = ['-o', 'cluster_size=4096', '-b', 'base.qcow2', '-F', 'qcow2'];
      qemu('qemu-img', ['create', '-q', '-f', 'qcow2', ...options, image, '24M']);
      const mirror = join(dir, 'mirror.raw');
      qemu('qemu-img', ['convert', '-O', 'raw', image, mirror]);
      return Promise.resolve({ image, mirror });
    },
  },
];

async function same(a: DiskImage, b: DiskImage, offset: number, length: number): Promise<boolean> {
  const x = new Uint8Array(length);
  const y = new Uint8Array(length);
  await a.read(offset, x);
  await b.read(offset, y);
  return sameBytes(x, y);
}

/** A random request: mostly small or cluster-sized, sometimes large, often near boundaries. */
function request(rng: Rng, size: number, clusterSize: number): { offset: number; length: number } {
  const kind = rng.below(10);
  const length =
    kind < 4
      ? 1 + rng.below(600)
      : kind < 8
        ? 1 + rng.below(3 * clusterSize)
        : 1 + rng.below(Math.min(size, MIB));
  let offset: number;
  if (rng.below(2) === 0) {
    const boundary = rng.below(Math.floor(size / clusterSize) + 1) * clusterSize;
    offset = boundary - rng.below(Math.min(length, clusterSize) + 1);
  } else {
    offset = rng.below(size);
  }
  offset = Math.max(0, Math.min(offset, size - 1));
  return { offset, length: Math.min(length, size - offset) };
}

const seeds =
  process.env.DISK_DIFF_SEED === undefined ? [1, 2] : [Number(process.env.DISK_DIFF_SEED)];

for (const setup of SETUPS) {
  for (const seed of seeds) {
    test(
      `random reads and writes match a raw mirror: ${setup.name}, seed ${seed}`,
      { skip: SKIP_QEMU },
      async (t) => {
        const { dir, remove } = await tempDir();
        t.after(remove);
        const rng = new Rng(seed);
        const paths = await setup.make(dir, rng);
        const image = await Qcow2Image.open(paths.image);
        const mirror = await RawImage.open(paths.mirror);
        assert.equal(image.size, setup.size);
        assert.equal(mirror.size, setup.size);
        for (let step = 0; step < 200; step++) {
          const { offset, length } = request(rng, setup.size, setup.clusterSize);
          const where = `seed ${seed} step ${step}: ${length} bytes at ${offset}`;
          if (rng.below(10) < 6) {
            const data = rng.bytes(length);
            await image.write(offset, data);
            await mirror.write(offset, data);
            const from = Math.max(0, offset - setup.clusterSize);
            const to = Math.min(setup.size, offset + length + setup.clusterSize);
            assert.ok(await same(image, mirror, from, to - from), `after write, ${where}`);
          } else {
            assert.ok(await same(image, mirror, offset, length), `read, ${where}`);
          }
          if (step % 50 === 49) {
            assert.ok(await same(image, mirror, 0, setup.size), `whole disk, ${where}`);
          }
        }
        assert.ok(await same(image, mirror, 0, setup.size), `seed ${seed}: whole disk at the end`);
        await image.close();
        await mirror.close();
        assertClean(paths.image);
        const theirs = await qemuContents(paths.image, dir);
        const expected = new Uint8Array(setup.size);
        const check = await RawImage.open(paths.mirror, { readOnly: true });
        await check.read(0, expected);
        await check.close();
        assert.ok(sameBytes(theirs, expected), `seed ${seed}: qemu-img convert differs`);
      },
    );
  }
}
