/**
 * Small stand-ins for Linux kernel images, built byte by byte for the loader tests: a minimal
 * ELF64 vmlinux and a bzImage around a compressed payload, with the setup header fields at the
 * offsets of Documentation/arch/x86/boot.rst.
 */

import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

/** An ELF64 x86-64 executable with one PT_LOAD segment holding `code` at `paddr`, entered there. */
export function tinyElf(paddr = 0x100_0000, code = Uint8Array.of(0xf4), bss = 0): Uint8Array {
  const EHDR = 64;
  const PHDR = 56;
  const elf = new Uint8Array(EHDR + PHDR + code.length);
  const dv = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0); // magic, ELFCLASS64, little-endian, version
  dv.setUint16(0x10, 2, true); // e_type ET_EXEC
  dv.setUint16(0x12, 62, true); // e_machine x86-64
  dv.setUint32(0x14, 1, true); // e_version
  dv.setBigUint64(0x18, BigInt(paddr), true); // e_entry
  dv.setBigUint64(0x20, BigInt(EHDR), true); // e_phoff
  dv.setUint16(0x34, EHDR, true); // e_ehsize
  dv.setUint16(0x36, PHDR, true); // e_phentsize
  dv.setUint16(0x38, 1, true); // e_phnum
  dv.setUint32(EHDR, 1, true); // p_type PT_LOAD
  dv.setUint32(EHDR + 4, 5, true); // p_flags R|X
  dv.setBigUint64(EHDR + 8, BigInt(EHDR + PHDR), true); // p_offset
  dv.setBigUint64(EHDR + 16, BigInt(paddr), true); // p_vaddr
  dv.setBigUint64(EHDR + 24, BigInt(paddr), true); // p_paddr
  dv.setBigUint64(EHDR + 32, BigInt(code.length), true); // p_filesz
  dv.setBigUint64(EHDR + 40, BigInt(code.length + bss), true); // p_memsz
  dv.setBigUint64(EHDR + 48, 0x1000n, true); // p_align
  elf.set(code, EHDR + PHDR);
  return elf;
}

/** `data` compressed as the kernel build does (xz with the x86 BCJ filter), size appended. */
export function xzPayload(data: Uint8Array): Uint8Array {
  const xz = execFileSync('xz', ['--format=xz', '--check=crc32', '--x86', '--lzma2', '-c'], {
    input: data,
  });
  return withSize(xz, data.length);
}

/** `data` gzipped, size appended. */
export function gzipPayload(data: Uint8Array): Uint8Array {
  return withSize(gzipSync(data), data.length);
}

/** `compressed` followed by `size` as a little-endian u32, as mkpiggy expects. */
export function withSize(compressed: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(compressed.length + 4);
  out.set(compressed);
  new DataView(out.buffer).setUint32(compressed.length, size, true);
  return out;
}

/** What {@link makeBzImage} puts in the header; defaults as in Debian's 6.1 kernel. */
export interface BzImageSpec {
  payload: Uint8Array;
  version?: number;
  setupSects?: number;
  loadflags?: number;
  kernelVersion?: string;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  /** Bytes of decompressor code before the payload in the protected-mode part. */
  payloadOffset?: number;
  /** Leave payload_offset and payload_length 0 (protocol < 2.08 style). */
  hidePayload?: boolean;
}

/** Where the kernel version string goes: 0x200 past `kernel_version`'s value (0x300). */
export const VERSION_STRING_OFFSET = 0x500;

/** A bzImage: boot sector and setup code with the header, then the protected-mode part. */
export function makeBzImage(spec: BzImageSpec): Uint8Array {
  const setupSects = spec.setupSects ?? 3;
  const pm = (setupSects + 1) * 512;
  const payloadOffset = spec.payloadOffset ?? 0x40;
  const image = new Uint8Array(pm + payloadOffset + spec.payload.length + 0x100);
  image.fill(0xcc, pm, pm + payloadOffset); // stand-in for decompressor code
  image.set(spec.payload, pm + payloadOffset);
  const dv = new DataView(image.buffer);
  image[0x1ef] = 0xff; // the sentinel bytes of a real image, which a loader must not copy
  image[0x1f0] = 0xff;
  image[0x1f1] = setupSects;
  dv.setUint16(0x1fa, 0xffff, true); // vid_mode normal
  dv.setUint16(0x1fe, 0xaa55, true); // boot_flag
  image[0x200] = 0xeb; // jump over the header, which ends at 0x202 + 0x6a = 0x26c
  image[0x201] = 0x6a;
  image.set(Buffer.from('HdrS', 'latin1'), 0x202);
  dv.setUint16(0x206, spec.version ?? 0x020f, true);
  dv.setUint16(0x20e, VERSION_STRING_OFFSET - 0x200, true);
  image[0x211] = spec.loadflags ?? 0x01;
  dv.setUint32(0x214, 0x10_0000, true); // code32_start
  dv.setUint32(0x22c, spec.initrdAddrMax ?? 0x7fff_ffff, true);
  dv.setUint32(0x230, 0x20_0000, true); // kernel_alignment
  image[0x234] = 1; // relocatable_kernel
  image[0x235] = 21; // min_alignment
  dv.setUint16(0x236, 0x7f, true); // xloadflags
  dv.setUint32(0x238, spec.cmdlineSize ?? 0x7ff, true);
  if (spec.hidePayload !== true) {
    dv.setUint32(0x248, payloadOffset, true);
    dv.setUint32(0x24c, spec.payload.length, true);
  }
  dv.setBigUint64(0x258, 0x100_0000n, true); // pref_address
  dv.setUint32(0x260, 0x3f9_8000, true); // init_size
  image.set(
    Buffer.from(`${spec.kernelVersion ?? '6.1.0-test-amd64 (vmd@test) #1 SMP'}\0`),
    VERSION_STRING_OFFSET,
  );
  return image;
}
