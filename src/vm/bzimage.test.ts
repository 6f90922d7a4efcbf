import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decompressPayload, extractVmlinux, isBzImage, parseBzImage } from './bzimage.js';
import { KernelLoadError } from './elf.js';
import {
  gzipPayload,
  makeBzImage,
  tinyElf,
  withSize,
  xzPayload,
} from '../../tests/helpers/synthetic_kernels.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-bz-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const vmlinux = tinyElf(0x100_0000, Uint8Array.of(0x90, 0x90, 0xf4), 0x1000);
const loadError = (message: RegExp) => (e: unknown) =>
  e instanceof KernelLoadError && message.test(e.message);

describe('parseBzImage()', () => {
  test('reads the setup header fields, the release and where the payload is', () => {
    const payload = xzPayload(vmlinux);
    const bz = parseBzImage(makeBzImage({ payload }), 'vmlinuz');
    assert.equal(bz.header.setupSects, 3);
    assert.equal(bz.header.version, 0x020f);
    assert.equal(bz.header.loadflags, 1);
    assert.equal(bz.header.kernelVersion, '6.1.0-test-amd64 (vmd@test) #1 SMP');
    assert.equal(bz.release, '6.1.0-test-amd64');
    assert.equal(bz.header.initrdAddrMax, 0x7fff_ffff);
    assert.equal(bz.header.kernelAlignment, 0x20_0000);
    assert.equal(bz.header.relocatable, true);
    assert.equal(bz.header.xloadflags, 0x7f);
    assert.equal(bz.header.cmdlineSize, 0x7ff);
    assert.equal(bz.header.payloadOffset, 0x40);
    assert.equal(bz.header.payloadLength, payload.length);
    assert.equal(bz.header.prefAddress, 0x100_0000n);
    assert.equal(bz.header.initSize, 0x3f9_8000);
    assert.equal(bz.header.bytes.length, 0x26c - 0x1f1, 'header copy ends at 0x202 + 0x6a');
    assert.equal(bz.protectedModeOffset, 0x800);
    assert.equal(bz.format, 'xz');
    assert.deepEqual(bz.payload, payload);
    assert.equal(bz.expectedSize, vmlinux.length);
  });

  test('setup_sects 0 means 4; before 2.08 the payload is found by its magic', () => {
    const payload = xzPayload(vmlinux);
    const image = makeBzImage({ payload, setupSects: 4, version: 0x0206, hidePayload: true });
    image[0x1f1] = 0; // as old kernels store it
    const bz = parseBzImage(image, 'old');
    assert.equal(bz.protectedModeOffset, 5 * 512);
    assert.equal(bz.header.payloadLength, 0);
    assert.equal(bz.header.xloadflags, 0, 'xloadflags only from 2.12');
    assert.equal(bz.header.prefAddress, 0n, 'pref_address only from 2.10');
    assert.equal(bz.format, 'xz');
    assert.equal(bz.expectedSize, undefined);
  });

  test('what is not a bzImage we can load is refused, saying why', () => {
    const good = makeBzImage({ payload: xzPayload(vmlinux) });
    const patched = (at: number, bytes: number[]): Uint8Array => {
      const copy = new Uint8Array(good);
      copy.set(bytes, at);
      return copy;
    };
    const cases: [Uint8Array, RegExp][] = [
      [vmlinux, /^k: not a Linux kernel image \(no "HdrS" at 0x202\)$/],
      [patched(0x206, [0x05, 0x02]), /^k: boot protocol 2\.05 is too old, need 2\.06$/],
      [patched(0x211, [0x00]), /a zImage/],
      [
        patched(0x24c, [0xff, 0xff, 0xff, 0x00]),
        /^k: payload at 0x840 \(16777215 bytes\) runs past the end$/,
      ],
      [patched(0x840, [0x12, 0x34]), /^k: payload has an unknown format \(magic 12 34 /],
      [good.subarray(0, 0x700), /^k: truncated: no code after 3 setup sectors$/],
    ];
    for (const [image, message] of cases) {
      assert.throws(() => parseBzImage(image, 'k'), loadError(message));
    }
    assert.equal(isBzImage(good), true);
    assert.equal(isBzImage(vmlinux), false);
  });
});

describe('decompressPayload()', () => {
  test('xz (with the system xz) and gzip give back the vmlinux', async () => {
    for (const payload of [xzPayload(vmlinux), gzipPayload(vmlinux)]) {
      const bz = parseBzImage(makeBzImage({ payload }), 'k');
      assert.deepEqual(new Uint8Array(await decompressPayload(bz, 'k')), vmlinux);
    }
  });

  test('a size trailer that disagrees, a non-ELF payload and other formats are errors', async () => {
    const xz = xzPayload(vmlinux);
    const wrongSize = withSize(xz.subarray(0, -4), 12345);
    const notElf = xzPayload(new Uint8Array(64).fill(7));
    const zstd = withSize(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0), 8);
    const corrupt = new Uint8Array(xz);
    corrupt.fill(0x55, 24, 64); // inside the compressed block
    const cases: [Uint8Array, RegExp][] = [
      [
        wrongSize,
        new RegExp(
          `^k: the payload decompressed to ${vmlinux.length} bytes, its trailer says 12345$`,
        ),
      ],
      [notElf, /^k: the payload is not an ELF vmlinux$/],
      [zstd, /^k: the kernel is compressed with zstd; only xz and gzip are supported/],
      [corrupt, /^k: cannot decompress the kernel: xz -dc --single-stream exited with status 1: /],
    ];
    for (const [payload, message] of cases) {
      const bz = parseBzImage(makeBzImage({ payload }), 'k');
      await assert.rejects(decompressPayload(bz, 'k'), loadError(message));
    }
  });

  test('without xz on the host the error names the package to install', async () => {
    const bz = parseBzImage(makeBzImage({ payload: xzPayload(vmlinux) }), 'k');
    const path = process.env.PATH;
    process.env.PATH = tempDir();
    try {
      await assert.rejects(
        decompressPayload(bz, 'k'),
        /xz is not installed \(Debian: apt-get install xz-utils\)/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('extractVmlinux()', () => {
  test('caches the vmlinux under the release and the hash of the bzImage, and reuses it', async () => {
    const cacheDir = tempDir();
    const image = makeBzImage({ payload: xzPayload(vmlinux) });
    const first = await extractVmlinux(image, { name: 'k', cacheDir });
    assert.deepEqual(new Uint8Array(first.vmlinux), vmlinux);
    const files = readdirSync(cacheDir);
    assert.equal(files.length, 1);
    assert.match(files[0] ?? '', /^vmlinux-6\.1\.0-test-amd64-[0-9a-f]{24}$/);

    // A second extraction reads the cache: prove it by planting a different ELF there.
    const planted = tinyElf(0x200_0000);
    writeFileSync(join(cacheDir, files[0] ?? ''), planted);
    const second = await extractVmlinux(image, { name: 'k', cacheDir });
    assert.deepEqual(new Uint8Array(second.vmlinux), planted);
    assert.equal(second.bzImage.release, '6.1.0-test-amd64');

    writeFileSync(join(cacheDir, files[0] ?? ''), 'garbage');
    await assert.rejects(
      extractVmlinux(image, { name: 'k', cacheDir }),
      /cached vmlinux is not an ELF file/,
    );
  });

  test('with cacheDir null nothing is written', async () => {
    const image = makeBzImage({ payload: gzipPayload(vmlinux) });
    const { vmlinux: out } = await extractVmlinux(image, { name: 'k', cacheDir: null });
    assert.deepEqual(new Uint8Array(out), vmlinux);
  });
});
