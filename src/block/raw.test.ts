import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskError } from './image.js';
import { RawImage, createRaw } from './raw.js';
import { fileHash, tempDir } from './testing.js';

const MIB = 1024 * 1024;

test('createRaw() makes a sparse file of the size asked for', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await createRaw(path, 64 * MIB);
  const s = await stat(path);
  assert.equal(s.size, 64 * MIB);
  assert.ok(s.blocks * 512 < MIB, `only ${s.blocks} blocks allocated`);
});

test('createRaw() refuses to replace a file', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await writeFile(path, 'precious');
  const before = await fileHash(path);
  await assert.rejects(createRaw(path, MIB), { name: 'DiskError', code: 'exists' });
  assert.equal(await fileHash(path), before);
});

test('a raw image reads and writes the file byte for byte at any alignment', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await createRaw(path, MIB);
  const image = await RawImage.open(path);
  t.after(() => image.close());
  assert.equal(image.size, MIB);
  assert.equal(image.format, 'raw');
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  await image.write(12345, data);
  const back = new Uint8Array(1002);
  await image.read(12344, back);
  assert.deepEqual(back.subarray(1, 1001), data);
  assert.equal(back[0], 0);
  assert.equal(back[1001], 0);
  await image.flush();
});

test('a raw image refuses requests outside the disk, writes when read-only, and use after close', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await createRaw(path, MIB);
  const rw = await RawImage.open(path);
  await assert.rejects(rw.read(MIB - 511, new Uint8Array(512)), (err: unknown) => {
    assert.ok(err instanceof DiskError);
    assert.equal(err.code, 'out-of-range');
    assert.match(err.message, /outside the disk/);
    return true;
  });
  await assert.rejects(rw.write(-1, new Uint8Array(1)), { code: 'out-of-range' });
  await rw.read(MIB - 512, new Uint8Array(512));
  await rw.close();
  await assert.rejects(rw.read(0, new Uint8Array(1)), { code: 'closed' });
  const before = await fileHash(path);
  const ro = await RawImage.open(path, { readOnly: true });
  t.after(() => ro.close());
  assert.equal(ro.readOnly, true);
  await assert.rejects(ro.write(0, new Uint8Array(1)), { code: 'read-only' });
  assert.equal(await fileHash(path), before);
});
