import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GuestMemory } from '../engine/memory.js';
import { KernelLoadError } from './elf.js';
import { loadLinux, placeInitrd } from './linux.js';
import { makeBzImage, tinyElf, xzPayload } from '../../tests/helpers/synthetic_kernels.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-linux-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function ram(size = 64 * MiB): GuestMemory {
  return new GuestMemory(new ArrayBuffer(size), { base: 0, size });
}

const code = Uint8Array.of(0x48, 0x31, 0xc0, 0xf4); // xor rax, rax; hlt
const vmlinux = tinyElf(0x100_0000, code, 0x2000);
const initrd = new Uint8Array(3 * 4096 + 100).map((_, i) => i & 0xff);
const loadError = (message: RegExp) => (e: unknown) =>
  e instanceof KernelLoadError && message.test(e.message);

describe('loadLinux()', () => {
  test('a bare vmlinux: segments, command line, initrd at the top of RAM, zero page', async () => {
    const mem = ram();
    const boot = await loadLinux(mem, { kernel: vmlinux, initrd, cmdline: 'console=ttyS0 quiet' });
    assert.equal(boot.entry, 0x100_0000n);
    assert.equal(boot.bootParams, 0x7000n);
    assert.deepEqual(mem.view(0x100_0000, 4), code);
    assert.equal(boot.release, undefined);
    assert.equal(Buffer.from(mem.view(0x20000, 20)).toString('latin1'), 'console=ttyS0 quiet\0');
    assert.deepEqual(boot.cmdline, { address: 0x20000, length: 19 });
    // 12388 bytes below 64 MiB, page aligned down: 64 MiB - 16 KiB.
    assert.deepEqual(boot.initrd, { address: 64 * MiB - 0x4000, size: initrd.length });
    assert.deepEqual(mem.view(64 * MiB - 0x4000, initrd.length), initrd);
    assert.equal(mem.read32(0x7000 + 0x218), 64 * MiB - 0x4000, 'ramdisk_image');
    assert.equal(mem.read32(0x7000 + 0x21c), initrd.length, 'ramdisk_size');
    assert.equal(mem.read32(0x7000 + 0x228), 0x20000, 'cmd_line_ptr');
    assert.equal(mem.read8(0x7000 + 0x210), 0xff, 'type_of_loader');
    assert.equal(mem.read16(0x7000 + 0x1fe), 0xaa55);
    assert.equal(mem.read8(0x7000 + 0x1e8), 2, 'e820_entries');
    assert.equal(mem.read64(0x7000 + 0x2e4 + 8), BigInt(63 * MiB), 'RAM from 1 MiB to the end');
    assert.deepEqual(boot.e820, [
      { addr: 0, size: 0x9fc00, type: 1 },
      { addr: MiB, size: 63 * MiB, type: 1 },
    ]);
  });

  test('a bzImage: decompressed, its header copied into the zero page', async () => {
    const image = makeBzImage({ payload: xzPayload(vmlinux) });
    const mem = ram();
    const boot = await loadLinux(mem, { kernel: image, cmdline: '', cacheDir: null });
    assert.equal(boot.entry, 0x100_0000n);
    assert.equal(boot.release, '6.1.0-test-amd64');
    assert.equal(boot.initrd, undefined);
    assert.deepEqual(mem.view(0x100_0000, 4), code);
    assert.deepEqual(
      mem.view(0x7000 + 0x202, 6),
      image.subarray(0x202, 0x208),
      '"HdrS" and version',
    );
    assert.equal(mem.read32(0x7000 + 0x238), 0x7ff, "the kernel's cmdline_size");
    assert.equal(mem.read32(0x7000 + 0x218), 0, 'no ramdisk');
    assert.equal(mem.read8(0x20000), 0, 'an empty command line is one NUL');
  });

  test('files are read by path, and named in errors', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'vmlinux'), vmlinux);
    writeFileSync(join(dir, 'initrd'), initrd);
    const mem = ram();
    const boot = await loadLinux(mem, {
      kernel: join(dir, 'vmlinux'),
      initrd: join(dir, 'initrd'),
      cmdline: 'x',
    });
    assert.equal(boot.initrd?.size, initrd.length);
    await assert.rejects(
      loadLinux(mem, { kernel: join(dir, 'nope'), cmdline: '' }),
      loadError(/\/nope: no such file$/),
    );
    await assert.rejects(
      loadLinux(mem, { kernel: vmlinux, initrd: dir, cmdline: '' }),
      loadError(/: is a directory$/),
    );
  });

  test('problems are found before anything is written', async () => {
    const small = makeBzImage({ payload: xzPayload(vmlinux), cmdlineSize: 10 });
    const cases: [Parameters<typeof loadLinux>[1], RegExp][] = [
      [{ kernel: Uint8Array.of(1, 2, 3), cmdline: '' }, /^kernel: neither a Linux bzImage nor/],
      [
        { kernel: small, cmdline: 'a'.repeat(11), cacheDir: null },
        /of 11 bytes is longer than the kernel's 10$/,
      ],
      [
        { kernel: vmlinux, cmdline: 'a'.repeat(2048) },
        /of 2048 bytes is longer than the kernel's 2047$/,
      ],
      [{ kernel: vmlinux, cmdline: 'a\0b' }, /command line contains a NUL$/],
      [
        { kernel: vmlinux, cmdline: '', initrd: new Uint8Array(48 * MiB) },
        /^initrd: 48\.0 MiB of initrd do not fit/,
      ],
      [
        { kernel: tinyElf(0x500_0000), cmdline: '' },
        /up to 0x5000001, beyond the 64\.0 MiB of guest RAM$/,
      ],
      [{ kernel: vmlinux, cmdline: '', initrd: new Uint8Array() }, /^initrd: empty$/],
    ];
    for (const [options, message] of cases) {
      const mem = ram();
      await assert.rejects(loadLinux(mem, options), loadError(message), String(message));
      assert.equal(
        mem.bytes.findIndex((b) => b !== 0),
        -1,
        `${String(message)}: RAM untouched`,
      );
    }
  });
});

describe('placeInitrd()', () => {
  test('goes as high as RAM, initrd_addr_max and 4 GiB allow, page aligned, above the kernel', () => {
    const kernelEnd = 0x4a0_0000;
    assert.equal(
      placeInitrd(0x1000, { ramSize: 256 * MiB, max: 0x7fff_ffff, kernelEnd }),
      256 * MiB - 0x1000,
    );
    assert.equal(
      placeInitrd(0x1001, { ramSize: 256 * MiB, max: 0x7fff_ffff, kernelEnd }),
      256 * MiB - 0x2000,
    );
    assert.equal(
      placeInitrd(0x1000, { ramSize: 256 * MiB, max: 0x7ff_ffff, kernelEnd }),
      128 * MiB - 0x1000,
      'initrd_addr_max',
    );
    assert.equal(
      placeInitrd(0x1000, { ramSize: 2 ** 33, max: 2 ** 40, kernelEnd }),
      2 ** 32 - 0x1000,
      'below 4 GiB',
    );
    assert.match(
      String(placeInitrd(0x1000, { ramSize: 0x4a0_0800, max: 2 ** 31, kernelEnd })),
      /do not fit/,
    );
  });
});
