import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createImage } from './create.js';
import { openImage } from './open.js';
import { Qcow2Image } from './qcow2.js';
import { SKIP_QEMU, assertClean, fileHash, qemu, qemuInfo, tempDir } from './testing.js';

const MIB = 1024 * 1024;

test(
  'createImage() makes qcow2 images that qemu-img finds clean, with the right size',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    for (const size of [MIB, 10 * MIB + 12345, 20 * 1024 * MIB, 3 * 1024 * 1024 * MIB]) {
      const path = join(dir, `disk-${size}.qcow2`);
      const made = await createImage(path, { format: 'qcow2', size });
      const expected = Math.floor(size / MIB) * MIB;
      assert.deepEqual(made, { path, format: 'qcow2', size: expected });
      assertClean(path);
      const info = qemuInfo(path);
      assert.equal(info.format, 'qcow2');
      assert.equal(info['virtual-size'], expected);
      assert.equal(info['cluster-size'], 65536);
      assert.equal(info['backing-filename'], undefined);
      const image = await Qcow2Image.open(path);
      assert.equal(image.size, expected);
      assert.equal(image.header.version, 3);
      await image.close();
    }
  },
);

test('createImage() makes sparse raw images rounded down to a MiB', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  const made = await createImage(path, { format: 'raw', size: 5 * MIB + 1000 });
  assert.equal(made.size, 5 * MIB);
  const s = await stat(path);
  assert.equal(s.size, 5 * MIB);
  assert.ok(s.blocks * 512 < MIB);
  const image = await openImage(path);
  assert.equal(image.format, 'raw');
  await image.close();
});

test(
  'createImage() with a base writes an overlay that names it, sized as the base',
  { skip: SKIP_QEMU },
  async (t) => {
    const { dir, remove } = await tempDir();
    t.after(remove);
    qemu('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'base.qcow2'), '100M']);
    qemu('qemu-io', ['-c', 'write -P 0x5a 1M 64k', join(dir, 'base.qcow2')]);
    const baseHash = await fileHash(join(dir, 'base.qcow2'));
    const overlay = join(dir, 'overlay.qcow2');
    const made = await createImage(overlay, { format: 'qcow2', base: 'base.qcow2' });
    assert.equal(made.size, 100 * MIB);
    assertClean(overlay);
    const info = qemuInfo(overlay);
    assert.equal(info['virtual-size'], 100 * MIB);
    assert.equal(info['backing-filename'], 'base.qcow2');
    assert.equal(info['backing-filename-format'], 'qcow2');
    qemu('qemu-io', ['-r', '-c', 'read -P 0x5a 1M 64k', overlay]);
    assert.equal(await fileHash(join(dir, 'base.qcow2')), baseHash);

    await writeFile(join(dir, 'base.raw'), new Uint8Array(3 * MIB).fill(7));
    await createImage(join(dir, 'over-raw.qcow2'), {
      format: 'qcow2',
      base: join(dir, 'base.raw'),
      size: 3 * MIB,
    });
    const rawInfo = qemuInfo(join(dir, 'over-raw.qcow2'));
    assert.equal(rawInfo['backing-filename-format'], 'raw');
    assert.equal(rawInfo['virtual-size'], 3 * MIB);
    qemu('qemu-io', ['-r', '-c', 'read -P 7 0 3M', join(dir, 'over-raw.qcow2')]);
    assertClean(join(dir, 'over-raw.qcow2'));
  },
);

test('createImage() refuses what vmctl create refuses, creating nothing', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.qcow2');
  await assert.rejects(createImage(path, { format: 'qcow2', size: MIB - 1 }), {
    code: 'invalid',
    message: `${path}: size must be at least 1MB`,
  });
  await assert.rejects(createImage(path, { format: 'qcow2' }), {
    code: 'invalid',
    message: /missing size/,
  });
  await assert.rejects(createImage(path, { format: 'qcow2', base: 'nowhere.qcow2' }), {
    code: 'invalid',
    message: /base image nowhere\.qcow2: .*ENOENT/,
  });
  await createImage(join(dir, 'base.qcow2'), { format: 'qcow2', size: 8 * MIB });
  await assert.rejects(createImage(path, { format: 'raw', base: 'base.qcow2' }), {
    code: 'invalid',
    message: /base image needs the qcow2 format/,
  });
  await assert.rejects(createImage(path, { format: 'qcow2', base: 'base.qcow2', size: 16 * MIB }), {
    code: 'invalid',
    message: /does not match the base image's size 8388608/,
  });
  await assert.rejects(stat(path), { code: 'ENOENT' });

  await writeFile(path, 'not to be replaced');
  const before = await fileHash(path);
  await assert.rejects(createImage(path, { format: 'qcow2', size: MIB }), { code: 'exists' });
  await assert.rejects(createImage(path, { format: 'raw', size: MIB }), { code: 'exists' });
  await assert.rejects(createImage(path, { format: 'qcow2', base: 'base.qcow2' }), {
    code: 'exists',
  });
  assert.equal(await fileHash(path), before);
});
