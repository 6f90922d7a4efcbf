import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { GuestMemory } from '../../src/engine/memory.js';
import { XLF_KERNEL_64 } from '../../src/vm/boot_params.js';
import { defaultVmlinuxCache, extractVmlinux, parseBzImage } from '../../src/vm/bzimage.js';
import { parseElf } from '../../src/vm/elf.js';
import { loadLinux } from '../../src/vm/linux.js';
import { debianGuest, withoutApt } from '../images/debian_guest.js';

const MiB = 1024 * 1024;
/** A plain Uint8Array copy, so that deepEqual does not compare prototypes (Buffer or not). */
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

describe("Debian's kernel", { skip: withoutApt() }, () => {
  test('the bzImage header: protocol, 64-bit entry, preferred address, xz payload, release', async () => {
    const { kernel } = await debianGuest();
    const image = readFileSync(kernel.path);
    const bz = parseBzImage(image, kernel.path);
    assert.ok(bz.header.version >= 0x020c, `protocol 0x${bz.header.version.toString(16)}`);
    assert.equal(bz.header.xloadflags & XLF_KERNEL_64, XLF_KERNEL_64);
    assert.equal(bz.header.prefAddress, 0x100_0000n);
    assert.equal(bz.format, 'xz');
    // kernel_version at 0x20e points (less 0x200) to the version string; its first word is
    // the release, which also names the package.
    const pointer = image.readUInt16LE(0x20e) + 0x200;
    const text = image.toString('latin1', pointer, image.indexOf(0, pointer));
    assert.equal(bz.header.kernelVersion, text);
    assert.equal(bz.release, kernel.release);
    assert.ok(text.includes(kernel.version), `"${text}" names package version ${kernel.version}`);
  });

  test('decompresses on the host to an ELF vmlinux entered at 0x1000000', async () => {
    const { kernel } = await debianGuest();
    const { vmlinux } = await extractVmlinux(readFileSync(kernel.path), {
      name: kernel.path,
      cacheDir: defaultVmlinuxCache(),
    });
    const elf = parseElf(vmlinux, 'vmlinux');
    assert.equal(elf.entry, 0x100_0000n);
    assert.equal(elf.lowest, 0x100_0000);
    assert.ok(elf.pvhEntry !== undefined, 'the Xen PVH note is there too');
  });

  test('loadLinux() loads it with the initramfs into 256 MiB and fills the zero page', async () => {
    const { kernel, initramfs } = await debianGuest();
    const mem = new GuestMemory(new ArrayBuffer(256 * MiB), { base: 0, size: 256 * MiB });
    const cmdline = 'console=ttyS0 panic=-1 nokaslr';
    const boot = await loadLinux(mem, { kernel: kernel.path, initrd: initramfs.path, cmdline });
    const image = readFileSync(kernel.path);
    const initrdSize = readFileSync(initramfs.path).length;
    assert.equal(boot.entry, 0x100_0000n);
    assert.equal(boot.release, kernel.release);
    assert.deepEqual(boot.initrd, {
      address: Math.floor((256 * MiB - initrdSize) / 4096) * 4096,
      size: initrdSize,
    });
    const zp = 0x7000;
    const headerEnd = 0x202 + (image[0x201] ?? 0);
    assert.deepEqual(mem.view(zp + 0x202, 4), u8(image.subarray(0x202, 0x206)), 'HdrS');
    assert.deepEqual(mem.view(zp + 0x22c, headerEnd - 0x22c), u8(image.subarray(0x22c, headerEnd)));
    assert.equal(mem.read8(zp + 0x210), 0xff);
    assert.equal(mem.read32(zp + 0x218), boot.initrd.address);
    assert.equal(mem.read32(zp + 0x21c), initrdSize);
    assert.equal(mem.read32(zp + 0x228), 0x20000);
    assert.equal(Buffer.from(mem.view(0x20000, cmdline.length + 1)).toString(), `${cmdline}\0`);
    assert.equal(mem.read8(zp + 0x1e8), 2);
    assert.ok(boot.kernel.highest < boot.initrd.address, 'the initrd sits above the kernel');
  });
});
