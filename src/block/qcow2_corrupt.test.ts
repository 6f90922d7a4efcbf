/**
 * Malformed and unsupported images are refused with clear errors, and nothing is written to
 * them: every case starts from a good image, breaks one thing and checks the file's hash.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskError, type DiskErrorCode } from './image.js';
import { Qcow2Image } from './qcow2.js';
import { createQcow2 } from './qcow2_create.js';
import { SKIP_QEMU, assertClean, fileHash, tempDir } from './testing.js';

const MIB = 1024 * 1024;
const COPIED = 0x8000000000000000n;

/** Where things are in the good image. */
interface Layout {
  l1: number;
  refcountTable: number;
  refcountBlock: number;
  l2: number;
  data: number;
}

/** A good image with data in guest cluster 0 (one L2 table, one data cluster). */
async function goodImage(dir: string): Promise<{ path: string; layout: Layout }> {
  const path = join(dir, 'good.qcow2');
  await createQcow2(path, { size: 8 * MIB });
  const image = await Qcow2Image.open(path);
  await image.write(0, new Uint8Array(4096).fill(0xee));
  await image.close();
  const bytes = await readFile(path);
  const l1 = Number(bytes.readBigUInt64BE(40));
  const refcountTable = Number(bytes.readBigUInt64BE(48));
  const refcountBlock = Number(bytes.readBigUInt64BE(refcountTable));
  const l2 = Number(bytes.readBigUInt64BE(l1) & ~COPIED);
  const data = Number(bytes.readBigUInt64BE(l2) & ~COPIED);
  return { path, layout: { l1, refcountTable, refcountBlock, l2, data } };
}

/** A copy of the good image with `change` applied to its bytes. */
async function broken(
  dir: string,
  good: string,
  name: string,
  change: (bytes: Buffer) => Buffer | undefined,
): Promise<string> {
  const path = join(dir, `${name}.qcow2`);
  await copyFile(good, path);
  const bytes = await readFile(path);
  await writeFile(path, change(bytes) ?? bytes);
  return path;
}

function rejection(code: DiskErrorCode, message: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof DiskError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  };
}

interface Case {
  name: string;
  change: (bytes: Buffer, l: Layout) => Buffer | undefined;
  code: DiskErrorCode;
  message: RegExp;
}

const CASES: Case[] = [
  {
    name: 'bad magic',
    change: (b) => void b.writeUInt32BE(0x514649fc, 0),
    code: 'corrupt',
    message: /bad magic, not a qcow2 image/,
  },
  {
    name: 'truncated header',
    change: (b) => b.subarray(0, 50),
    code: 'corrupt',
    message: /too short/,
  },
  {
    name: 'version 4',
    change: (b) => void b.writeUInt32BE(4, 4),
    code: 'unsupported',
    message: /qcow2 version 4 is not supported/,
  },
  {
    name: 'cluster size',
    change: (b) => void b.writeUInt32BE(30, 20),
    code: 'corrupt',
    message: /cluster_bits 30 outside 9\.\.21/,
  },
  {
    name: 'L1 table beyond the file',
    change: (b) => void b.writeBigUInt64BE(0x10000000n, 40),
    code: 'corrupt',
    message: /L1 table at 0x10000000 is beyond the end of the file/,
  },
  {
    name: 'L1 table misaligned',
    change: (b, l) => void b.writeBigUInt64BE(BigInt(l.l1 + 8), 40),
    code: 'corrupt',
    message: /L1 table offset 0x\w+ is invalid/,
  },
  {
    name: 'L1 table too small',
    change: (b) => void b.writeUInt32BE(0, 36),
    code: 'corrupt',
    message: /L1 table has 0 entries, 1 needed/,
  },
  {
    name: 'L1 table over the refcount table',
    change: (b, l) => void b.writeBigUInt64BE(BigInt(l.refcountTable), 40),
    code: 'corrupt',
    message: /the L1 table at 0x\w+ overlaps the refcount table/,
  },
  {
    name: 'L2 table over a refcount block',
    change: (b, l) => void b.writeBigUInt64BE(BigInt(l.refcountBlock) | COPIED, l.l1),
    code: 'corrupt',
    message: /L2 table 0 at 0x\w+ overlaps refcount block 0/,
  },
  {
    name: 'L2 table beyond the file',
    change: (b, l) => void b.writeBigUInt64BE(0x40000000n | COPIED, l.l1),
    code: 'corrupt',
    message: /L2 table 0 at 0x40000000 is beyond the end of the file/,
  },
  {
    name: 'L1 entry with reserved bits',
    change: (b, l) => void b.writeBigUInt64BE(BigInt(l.l2) | COPIED | 0x100n, l.l1),
    code: 'corrupt',
    message: /L1 entry 0 has reserved bits set/,
  },
  {
    name: 'refcount block over the L1 table',
    change: (b, l) => void b.writeBigUInt64BE(BigInt(l.l1), l.refcountTable),
    code: 'corrupt',
    message: /the L1 table at 0x\w+ overlaps refcount block 0/,
  },
  {
    name: 'refcount table without clusters',
    change: (b) => void b.writeUInt32BE(0, 56),
    code: 'corrupt',
    message: /refcount table has no clusters/,
  },
  {
    name: 'unknown incompatible feature',
    change: (b) => void b.writeBigUInt64BE(1n << 40n, 72),
    code: 'unsupported',
    message: /incompatible features not supported: unknown bit 40/,
  },
  {
    name: 'named incompatible feature',
    change: (b) => {
      b.writeBigUInt64BE(1n << 9n, 72);
      // A feature name table extension right after the header.
      b.writeUInt32BE(0x6803f857, 104);
      b.writeUInt32BE(48, 108);
      b.fill(0, 112, 112 + 48 + 8);
      b.writeUInt8(0, 112);
      b.writeUInt8(9, 113);
      b.write('fancy feature', 114, 'latin1');
      return undefined;
    },
    code: 'unsupported',
    message: /incompatible features not supported: fancy feature \(bit 9\)/,
  },
  {
    name: 'extended L2 entries',
    change: (b) => void b.writeBigUInt64BE(1n << 4n, 72),
    code: 'unsupported',
    message: /extended L2 entries \(bit 4\)/,
  },
  {
    name: 'external data file',
    change: (b) => void b.writeBigUInt64BE(1n << 2n, 72),
    code: 'unsupported',
    message: /external data file \(bit 2\)/,
  },
  {
    name: 'zstd compression',
    change: (b) => void b.writeBigUInt64BE(1n << 3n, 72),
    code: 'unsupported',
    message: /compression type \(bit 3\)/,
  },
  {
    name: 'encryption',
    change: (b) => void b.writeUInt32BE(2, 32),
    code: 'unsupported',
    message: /encrypted images \(LUKS\) are not supported/,
  },
  {
    name: 'refcount order',
    change: (b) => void b.writeUInt32BE(7, 96),
    code: 'corrupt',
    message: /refcount_order 7 is above 6/,
  },
  {
    name: 'header length',
    change: (b) => void b.writeUInt32BE(100, 100),
    code: 'corrupt',
    message: /header_length 100 is invalid/,
  },
  {
    name: 'backing file name outside the first cluster',
    change: (b) => {
      b.writeBigUInt64BE(0xfff0n, 8);
      b.writeUInt32BE(100, 16);
      return undefined;
    },
    code: 'corrupt',
    message: /backing file name at 0xfff0 is outside the first cluster/,
  },
  {
    name: 'missing backing file',
    change: (b) => {
      b.writeBigUInt64BE(0x200n, 8);
      b.writeUInt32BE(10, 16);
      b.write('gone.qcow2', 0x200, 'latin1');
      return undefined;
    },
    code: 'invalid',
    message: /backing file gone\.qcow2: .*ENOENT/,
  },
];

test('malformed and unsupported images are refused, read-write or read-only, unchanged', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const good = await goodImage(dir);
  for (const [k, c] of CASES.entries()) {
    const path = await broken(dir, good.path, `case-${k}`, (b) => c.change(b, good.layout));
    const before = await fileHash(path);
    await assert.rejects(Qcow2Image.open(path), rejection(c.code, c.message), c.name);
    await assert.rejects(
      Qcow2Image.open(path, { readOnly: true }),
      rejection(c.code, c.message),
      c.name,
    );
    assert.equal(await fileHash(path), before, `${c.name}: the file is unchanged`);
  }
});

test('the dirty and corrupt bits allow reading only', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const good = await goodImage(dir);
  const bits = [
    {
      bit: 0n,
      code: 'unsupported' as const,
      message: /marked dirty \(lazy refcounts\); repair it with "qemu-img check -r all"/,
    },
    {
      bit: 1n,
      code: 'corrupt' as const,
      message: /marked corrupt; it may only be opened read-only/,
    },
  ];
  for (const { bit, code, message } of bits) {
    const path = await broken(
      dir,
      good.path,
      `bit-${bit}`,
      (b) => void b.writeBigUInt64BE(1n << bit, 72),
    );
    const before = await fileHash(path);
    await assert.rejects(Qcow2Image.open(path), rejection(code, message));
    const image = await Qcow2Image.open(path, { readOnly: true });
    const data = new Uint8Array(4096);
    await image.read(0, data);
    assert.ok(data.every((x) => x === 0xee));
    await assert.rejects(image.write(0, data), { code: 'read-only' });
    await image.close();
    assert.equal(await fileHash(path), before);
  }
});

test('broken L2 entries are refused when used, and guest data never lands on metadata', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const { path: good, layout } = await goodImage(dir);
  const cases = [
    {
      name: 'data cluster over the L1 table',
      entry: BigInt(layout.l1) | COPIED,
      read: undefined,
      write: rejection('corrupt', /guest cluster 0x0 at 0x\w+ overlaps the L1 table/),
    },
    {
      name: 'data cluster beyond the file',
      entry: 0x40000000n | COPIED,
      read: rejection(
        'corrupt',
        /L2 entry 0 of L2 table 0 \(guest 0x0\) points beyond the end of the file/,
      ),
      write: rejection('corrupt', /points beyond the end of the file/),
    },
    {
      name: 'reserved bits',
      entry: BigInt(layout.data) | COPIED | 0x2n,
      read: rejection('corrupt', /L2 entry 0 of L2 table 0 \(guest 0x0\) has reserved bits set/),
      write: rejection('corrupt', /has reserved bits set/),
    },
    {
      name: 'misaligned data cluster',
      entry: BigInt(layout.data + 512) | COPIED,
      read: rejection('corrupt', /is not cluster-aligned/),
      write: rejection('corrupt', /is not cluster-aligned/),
    },
  ];
  for (const c of cases) {
    const path = await broken(
      dir,
      good,
      c.name.replaceAll(' ', '-'),
      (b) => void b.writeBigUInt64BE(c.entry, layout.l2),
    );
    const before = await fileHash(path);
    const image = await Qcow2Image.open(path);
    if (c.read !== undefined)
      await assert.rejects(image.read(0, new Uint8Array(512)), c.read, c.name);
    await assert.rejects(image.write(100, new Uint8Array(512).fill(1)), c.write, c.name);
    // Other clusters stay usable for reading.
    await image.read(MIB, new Uint8Array(512));
    await image.close();
    assert.equal(await fileHash(path), before, `${c.name}: the file is unchanged`);
  }
});

test(
  'opening read-write clears autoclear feature bits; read-only leaves them',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    const { path: good } = await goodImage(dir);
    const path = await broken(dir, good, 'autoclear', (b) => void b.writeBigUInt64BE(1n << 5n, 88));
    const before = await fileHash(path);
    await (await Qcow2Image.open(path, { readOnly: true })).close();
    assert.equal(await fileHash(path), before);
    const image = await Qcow2Image.open(path);
    assert.equal(image.header.autoclearFeatures, 0n);
    await image.close();
    assert.equal((await readFile(path)).readBigUInt64BE(88), 0n);
    assertClean(path);
  },
);
