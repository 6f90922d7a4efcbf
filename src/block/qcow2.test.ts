import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createImage } from './create.js';
import { DiskError } from './image.js';
import { Qcow2Image } from './qcow2.js';
import { createQcow2 } from './qcow2_create.js';
import {
  SKIP_QEMU,
  assertClean,
  fileHash,
  qemu,
  qemuContents,
  qemuInfo,
  sameBytes,
  tempDir,
} from './testing.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/**
 * With QEMU's tools, in `dir`: `base.qcow2` of `size` with the qemu-io `writes` done on it,
 * and an empty `overlay.qcow2` backed by it (a relative name, as users write it).
 */
function qemuBaseAndOverlay(
  dir: string,
  size: string,
  writes: readonly string[],
): { base: string; overlay: string } {
  const base = join(dir, 'base.qcow2');
  const overlay = join(dir, 'overlay.qcow2');
  qemu('qemu-img', ['create', '-q', '-f', 'qcow2', base, size]);
  qemu('qemu-io', [...writes.flatMap((w) => ['-c', w]), base]);
  qemu('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', overlay]);
  return { base, overlay };
}

/** A write of `length` bytes of `fill` at `offset`, checked afterwards with qemu-io. */
interface Pattern {
  offset: number;
  length: number;
  fill: number;
}

async function writePatterns(image: Qcow2Image, patterns: readonly Pattern[]): Promise<void> {
  for (const p of patterns) await image.write(p.offset, new Uint8Array(p.length).fill(p.fill));
}

function qemuReads(path: string, patterns: readonly Pattern[]): void {
  const commands = patterns.flatMap((p) => ['-c', `read -P ${p.fill} ${p.offset} ${p.length}`]);
  const out = qemu('qemu-io', ['-r', ...commands, path]);
  assert.doesNotMatch(out, /Pattern verification failed/, out);
}

async function readAll(image: Qcow2Image): Promise<Uint8Array> {
  const all = new Uint8Array(image.size);
  await image.read(0, all);
  return all;
}

test(
  'patterns written across cluster and L2 boundaries read back with qemu-io',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const path = join(dir, 'disk.qcow2');
    await createImage(path, { format: 'qcow2', size: 4 * GIB });
    const patterns: Pattern[] = [
      { offset: 0, length: 512, fill: 0x11 },
      { offset: 64 * KIB - 100, length: 300, fill: 0x22 }, // across a cluster boundary
      { offset: 512 * MIB - 5000, length: 10000, fill: 0x33 }, // across an L2 table boundary
      { offset: 1536 * MIB + 12345, length: 300 * KIB, fill: 0x44 }, // several clusters
      { offset: 4 * GIB - 4096, length: 4096, fill: 0x55 }, // the last sector
      { offset: 2 * GIB + 777, length: 1, fill: 0x66 },
    ];
    const image = await Qcow2Image.open(path);
    await writePatterns(image, patterns);
    // An in-place rewrite of part of an allocated cluster.
    await image.write(1000, new Uint8Array(10).fill(0x77));
    patterns.push({ offset: 1000, length: 10, fill: 0x77 });
    await image.flush();
    await image.close();
    assertClean(path);
    qemuReads(path, patterns);
    qemuReads(path, [
      { offset: 512, length: 488, fill: 0 },
      { offset: 1010, length: 64 * KIB - 1110, fill: 0 },
      { offset: 1 * GIB, length: 64 * KIB, fill: 0 },
    ]);
  },
);

test('the refcount table grows when the file outgrows it', { skip: SKIP_QEMU }, async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  for (const refcountOrder of [4, 6]) {
    // 512-byte clusters: one refcount table cluster covers 64 refcount blocks, 8 MiB of file
    // with 16-bit refcounts, 2 MiB with 64-bit ones.
    const path = join(dir, `small-${refcountOrder}.qcow2`);
    await createQcow2(path, { size: 2 * GIB, clusterBits: 9, refcountOrder });
    const image = await Qcow2Image.open(path);
    const before = image.header.refcountTableOffset;
    const patterns: Pattern[] = [];
    for (let i = 0; i < 24; i++) {
      patterns.push({ offset: i * 83 * MIB + i * 4099, length: 400 * KIB + i * 1000, fill: i + 1 });
    }
    await writePatterns(image, patterns);
    await image.close();
    const reopened = await Qcow2Image.open(path, { readOnly: true });
    assert.notEqual(reopened.header.refcountTableOffset, before, 'the refcount table moved');
    assert.ok(reopened.header.refcountTableClusters > 1);
    await reopened.close();
    assertClean(path);
    qemuReads(path, patterns);
  }
});

test(
  'images made by qemu-img are read and written, v2 and v3, any cluster size and refcount width',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const variants = [
      ['compat=1.1'],
      ['compat=0.10'],
      ['cluster_size=512', 'refcount_bits=1'],
      ['cluster_size=4096', 'refcount_bits=64'],
      ['cluster_size=2M', 'refcount_bits=8'],
      ['lazy_refcounts=on'],
      ['preallocation=metadata'],
    ];
    for (const [k, options] of variants.entries()) {
      const path = join(dir, `qemu-${k}.qcow2`);
      qemu('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', options.join(','), path, '64M']);
      qemu('qemu-io', ['-c', 'write -P 0xa1 3M 100k', '-c', 'write -P 0xa2 40M 1k', path]);
      const image = await Qcow2Image.open(path);
      assert.equal(image.size, 64 * MIB);
      const seen = new Uint8Array(100 * KIB);
      await image.read(3 * MIB, seen);
      assert.ok(
        seen.every((b) => b === 0xa1),
        `${options.join(',')}: qemu-io's data`,
      );
      const patterns: Pattern[] = [
        { offset: 3 * MIB + 50 * KIB, length: 70 * KIB, fill: 0xb1 }, // over allocated and free
        { offset: 40 * MIB + 512, length: 512, fill: 0xb2 },
        { offset: 10 * MIB + 3, length: 3 * MIB, fill: 0xb3 },
        { offset: 64 * MIB - 1, length: 1, fill: 0xb4 },
      ];
      await writePatterns(image, patterns);
      await image.close();
      assertClean(path);
      qemuReads(path, [
        { offset: 3 * MIB, length: 50 * KIB, fill: 0xa1 },
        { offset: 40 * MIB, length: 512, fill: 0xa2 },
        ...patterns,
      ]);
    }
  },
);

test(
  'a backing file: reads fall through, the first write to a cluster copies it',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const { base, overlay } = qemuBaseAndOverlay(dir, '32M', [
      'write -P 0x42 0 4M',
      'write -P 0x43 20M 1M',
    ]);
    const baseHash = await fileHash(base);
    const image = await Qcow2Image.open(overlay);
    assert.equal(image.backingFile, 'base.qcow2');
    assert.equal(image.backing?.readOnly, true);
    const bytes = new Uint8Array(8);
    await image.read(4 * MIB - 4, bytes);
    assert.deepEqual([...bytes], [0x42, 0x42, 0x42, 0x42, 0, 0, 0, 0]);
    await image.write(1 * MIB + 100, new Uint8Array(10).fill(0x99));
    await image.write(20 * MIB + 64 * KIB - 5, new Uint8Array(10).fill(0x98));
    await image.close();
    assert.equal(await fileHash(base), baseHash, 'the base is never written');
    assertClean(overlay);
    qemuReads(overlay, [
      { offset: 1 * MIB, length: 100, fill: 0x42 },
      { offset: 1 * MIB + 100, length: 10, fill: 0x99 },
      { offset: 1 * MIB + 110, length: 64 * KIB - 110, fill: 0x42 },
      { offset: 20 * MIB, length: 64 * KIB - 5, fill: 0x43 },
      { offset: 20 * MIB + 64 * KIB - 5, length: 10, fill: 0x98 },
      { offset: 20 * MIB + 64 * KIB + 5, length: 64 * KIB - 5, fill: 0x43 },
    ]);
    // Only the two written clusters (and one L2 table) were allocated in the overlay.
    const map = JSON.parse(qemu('qemu-img', ['map', '--output=json', overlay])) as {
      start: number;
      length: number;
      depth: number;
      data: boolean;
    }[];
    const own = map.filter((e) => e.depth === 0 && e.data);
    assert.deepEqual(
      own.map((e) => [e.start, e.length]),
      [
        [1 * MIB, 64 * KIB],
        [20 * MIB, 128 * KIB],
      ],
    );
  },
);

test(
  'a backing chain raw ← qcow2 ← qcow2, with a base smaller than the overlay',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const raw = join(dir, 'base.raw');
    await writeFile(raw, new Uint8Array(5 * MIB + 512).fill(0x31));
    qemu('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      'base.raw',
      '-F',
      'raw',
      join(dir, 'mid.qcow2'),
      '8M',
    ]);
    qemu('qemu-io', ['-c', 'write -P 0x32 1M 1M', join(dir, 'mid.qcow2')]);
    const top = join(dir, 'top.qcow2');
    await createImage(top, { format: 'qcow2', base: 'mid.qcow2' });
    qemu('qemu-io', ['-c', 'write -P 0x33 1536k 64k', top]);
    const image = await Qcow2Image.open(top);
    assert.equal(image.size, 8 * MIB);
    await image.write(5 * MIB + 500, new Uint8Array(24).fill(0x34)); // across the end of the raw base
    await image.write(7 * MIB, new Uint8Array(3).fill(0x35));
    const ours = await readAll(image);
    await image.close();
    assertClean(top);
    assertClean(join(dir, 'mid.qcow2'));
    const theirs = await qemuContents(top, dir);
    assert.ok(sameBytes(ours, theirs), 'our reading of the chain matches qemu-img convert');
    const expect = new Uint8Array(8 * MIB);
    expect.fill(0x31, 0, 5 * MIB + 512);
    expect.fill(0x32, 1 * MIB, 2 * MIB);
    expect.fill(0x33, 1536 * KIB, 1600 * KIB);
    expect.fill(0x34, 5 * MIB + 500, 5 * MIB + 524);
    expect.fill(0x35, 7 * MIB, 7 * MIB + 3);
    assert.ok(sameBytes(ours, expect));
  },
);

test(
  'zero clusters read as zeros and are rewritten in place when written',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const { overlay } = qemuBaseAndOverlay(dir, '4M', ['write -P 0x61 0 4M']);
    // A zero cluster without a host cluster, and one that keeps its host cluster.
    qemu('qemu-io', [
      '-c',
      'write -z 0 64k',
      '-c',
      'write -P 0x62 1M 64k',
      '-c',
      'write -z 1M 64k',
      overlay,
    ]);
    const image = await Qcow2Image.open(overlay);
    const head = new Uint8Array(64 * KIB);
    await image.read(0, head);
    assert.ok(
      head.every((b) => b === 0),
      'a zero cluster hides the backing data',
    );
    await image.write(100, new Uint8Array(4).fill(0x63));
    await image.write(1 * MIB + 200, new Uint8Array(4).fill(0x64));
    await image.close();
    assertClean(overlay);
    qemuReads(overlay, [
      { offset: 0, length: 100, fill: 0 },
      { offset: 100, length: 4, fill: 0x63 },
      { offset: 104, length: 64 * KIB - 104, fill: 0 },
      { offset: 64 * KIB, length: 64 * KIB, fill: 0x61 },
      { offset: 1 * MIB, length: 200, fill: 0 },
      { offset: 1 * MIB + 200, length: 4, fill: 0x64 },
      { offset: 1 * MIB + 204, length: 64 * KIB - 204, fill: 0 },
    ]);
  },
);

test(
  'compressed clusters are read; writing to one is refused and changes nothing',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const raw = join(dir, 'source.raw');
    const data = new Uint8Array(2 * MIB);
    for (let i = 0; i < data.length; i++) data[i] = (i % 251) ^ (i >> 16);
    data.fill(0, MIB, MIB + 256 * KIB);
    await writeFile(raw, data);
    const path = join(dir, 'compressed.qcow2');
    qemu('qemu-img', ['convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, path]);
    const image = await Qcow2Image.open(path);
    const back = new Uint8Array(data.length);
    await image.read(0, back);
    assert.ok(sameBytes(back, data));
    const unaligned = new Uint8Array(100 * KIB);
    await image.read(12345, unaligned);
    assert.ok(sameBytes(unaligned, data.subarray(12345, 12345 + 100 * KIB)));
    const before = await fileHash(path);
    await assert.rejects(image.write(64 * KIB + 1, new Uint8Array(1)), (err: unknown) => {
      assert.ok(err instanceof DiskError);
      assert.equal(err.code, 'unsupported');
      assert.match(err.message, /writing to compressed clusters is not supported/);
      return true;
    });
    assert.equal(await fileHash(path), before);
    // Clusters that are not compressed (the zeros were left unallocated) can still be written.
    await image.write(MIB + 1000, new Uint8Array(10).fill(0x71));
    await image.close();
    assertClean(path);
    qemuReads(path, [{ offset: MIB + 1000, length: 10, fill: 0x71 }]);
  },
);

test('images with internal snapshots open read-only only', { skip: SKIP_QEMU }, async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'snap.qcow2');
  qemu('qemu-img', ['create', '-q', '-f', 'qcow2', path, '4M']);
  qemu('qemu-io', ['-c', 'write -P 0x51 0 64k', path]);
  qemu('qemu-img', ['snapshot', '-c', 'first', path]);
  const before = await fileHash(path);
  await assert.rejects(Qcow2Image.open(path), {
    code: 'unsupported',
    message: /internal snapshots can only be opened read-only/,
  });
  const image = await Qcow2Image.open(path, { readOnly: true });
  const back = new Uint8Array(64 * KIB);
  await image.read(0, back);
  assert.ok(back.every((b) => b === 0x51));
  await assert.rejects(image.write(0, back), { code: 'read-only' });
  await image.close();
  assert.equal(await fileHash(path), before);
});

test('concurrent requests are serialised and all land', { skip: SKIP_QEMU }, async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.qcow2');
  await createImage(path, { format: 'qcow2', size: 64 * MIB });
  const image = await Qcow2Image.open(path);
  const patterns: Pattern[] = [];
  for (let i = 0; i < 40; i++)
    patterns.push({ offset: i * 1531 * KIB + i, length: 5000, fill: i + 1 });
  await Promise.all(
    patterns.map((p) => image.write(p.offset, new Uint8Array(p.length).fill(p.fill))),
  );
  const reads = await Promise.all(
    patterns.map(async (p) => {
      const b = new Uint8Array(p.length);
      await image.read(p.offset, b);
      return b.every((x) => x === p.fill);
    }),
  );
  assert.ok(reads.every(Boolean));
  await image.close();
  await assert.rejects(image.read(0, new Uint8Array(1)), { code: 'closed' });
  assertClean(path);
  qemuReads(path, patterns);
  assert.equal(qemuInfo(path)['virtual-size'], 64 * MIB);
});

test('requests outside the disk and writes to read-only images are refused', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.qcow2');
  await createImage(path, { format: 'qcow2', size: MIB });
  const before = await fileHash(path);
  const image = await Qcow2Image.open(path);
  await assert.rejects(image.read(MIB - 1, new Uint8Array(2)), { code: 'out-of-range' });
  await assert.rejects(image.write(MIB, new Uint8Array(1)), { code: 'out-of-range' });
  await assert.rejects(image.write(0.5, new Uint8Array(1)), { code: 'out-of-range' });
  await image.read(MIB - 1, new Uint8Array(1));
  await image.close();
  const ro = await Qcow2Image.open(path, { readOnly: true });
  await assert.rejects(ro.write(0, new Uint8Array(1)), { code: 'read-only', message: /read-only/ });
  await ro.close();
  assert.equal(await fileHash(path), before);
});
