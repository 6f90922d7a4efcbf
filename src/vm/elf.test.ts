import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GuestMemory } from '../engine/memory.js';
import { KernelLoadError, loadElf, loadKernelFile, parseElf } from './elf.js';
import { FLAT_LOAD_ADDRESS } from './layout.js';

const MiB = 1024 * 1024;

// A kernel linked like vmlinux: virtual 0xffffffff80200000, physical 0x200000 (via AT()),
// text + a Xen PVH note in one segment, .data + .bss (8 KiB) in another.
const KERNEL_ASM = `
bits 64
section .text
global _start, phys_start
_start:
  mov eax, 0x11223344
  hlt
section .data
msg: db "hello, data", 0
section .bss
buf: resb 8192
section .note.Xen note alloc noexec nowrite align=4
  dd 4, 8, 18          ; namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY
  db "Xen", 0
  dq 0x200010
`;
const KERNEL_LD = (entry: string): string => `
ENTRY(${entry})
SECTIONS {
  . = 0xffffffff80200000;
  .text : AT(0x200000) { *(.text) }
  .notes : { *(.note.*) }
  . = ALIGN(0x1000);
  .data : AT(ADDR(.data) - 0xffffffff80000000) { *(.data) }
  .bss : { *(.bss) }
  phys_entry = _start - 0xffffffff80000000;
}
`;

let dir = '';
let kernel = new Uint8Array(); // entry virtual 0xffffffff80200000
let physEntryKernel = new Uint8Array(); // entry physical 0x200000, as vmlinux
let plainKernel = new Uint8Array(); // ld's default layout: 0x400000, entry 0x401000
let elf32 = new Uint8Array();

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ram(size = 64 * MiB): GuestMemory {
  return new GuestMemory(new ArrayBuffer(size), { base: 0, size });
}

/** A copy of `image` with a little-endian field patched. */
function patch(image: Uint8Array, at: number, value: number, size: 1 | 2 | 4): Uint8Array {
  const copy = new Uint8Array(image); // not slice(): on a Buffer that is a view, not a copy
  const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  if (size === 1) dv.setUint8(at, value);
  else if (size === 2) dv.setUint16(at, value, true);
  else dv.setUint32(at, value, true);
  return copy;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmd-elf-'));
  writeFileSync(join(dir, 'k.asm'), KERNEL_ASM);
  writeFileSync(join(dir, 'k.ld'), KERNEL_LD('_start'));
  writeFileSync(join(dir, 'p.ld'), KERNEL_LD('phys_entry'));
  writeFileSync(join(dir, 'k32.asm'), 'bits 32\nglobal _start\n_start: hlt\n');
  sh('nasm', ['-f', 'elf64', '-o', 'k.o', 'k.asm']);
  sh('ld', ['-T', 'k.ld', '-o', 'k.elf', 'k.o']);
  sh('ld', ['-T', 'p.ld', '-o', 'p.elf', 'k.o']);
  sh('ld', ['-o', 'd.elf', 'k.o']);
  sh('nasm', ['-f', 'elf32', '-o', 'k32.o', 'k32.asm']);
  sh('ld', ['-m', 'elf_i386', '-o', 'k32.elf', 'k32.o']);
  kernel = new Uint8Array(readFileSync(join(dir, 'k.elf')));
  physEntryKernel = new Uint8Array(readFileSync(join(dir, 'p.elf')));
  plainKernel = new Uint8Array(readFileSync(join(dir, 'd.elf')));
  elf32 = new Uint8Array(readFileSync(join(dir, 'k32.elf')));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('loadElf()', () => {
  test('loadElf() copies text and data to their physical addresses', () => {
    const mem = ram();
    const k = loadElf(kernel, mem, { name: 'k.elf' });
    assert.equal(k.format, 'elf');
    // mov eax, imm32 = b8 44 33 22 11; hlt = f4
    assert.deepEqual([...mem.view(0x200000, 6)], [0xb8, 0x44, 0x33, 0x22, 0x11, 0xf4]);
    assert.equal(new TextDecoder().decode(mem.view(0x201000, 11)), 'hello, data');
    assert.deepEqual(
      k.segments.map((s) => [s.paddr, s.fileSize, s.memSize]),
      [
        [0x200000, 0x20, 0x20],
        [0x201000, 0xc, 0x200c],
      ],
      'segments as readelf -l shows them',
    );
    assert.equal(k.lowest, 0x200000);
    assert.equal(k.highest, 0x20300c, 'highest is exclusive: data + 8 KiB of bss');
  });

  test('loadElf() zeroes .bss over stale RAM contents', () => {
    const mem = ram();
    mem.fill(0x200000, 0x4000, 0xaa);
    loadElf(kernel, mem, { name: 'k.elf' });
    const bss = mem.view(0x20100c, 0x2000);
    assert.equal(
      bss.findIndex((b) => b !== 0),
      -1,
      'every .bss byte is zero',
    );
    assert.equal(mem.read8(0x20300c), 0xaa, 'the byte after .bss is untouched');
  });

  test('loadElf() translates a virtual e_entry through its segment', () => {
    const k = loadElf(kernel, ram(), { name: 'k.elf' });
    assert.equal(k.entry, 0x200000n);
  });

  test('loadElf() keeps a physical e_entry (vmlinux ENTRY(phys_startup_64))', () => {
    const k = loadElf(physEntryKernel, ram(), { name: 'p.elf' });
    assert.equal(k.entry, 0x200000n);
  });

  test('loadElf() finds the Xen PVH entry note', () => {
    assert.equal(parseElf(kernel, 'k.elf').pvhEntry, 0x200010);
  });

  test('loadElf() loads an executable in ld default layout', () => {
    const mem = ram();
    const k = loadElf(plainKernel, mem, { name: 'd.elf' });
    assert.equal(k.entry, 0x401000n);
    assert.equal(mem.read8(0x401000), 0xb8, 'mov eax opcode at the entry');
    assert.equal(k.pvhEntry, 0x200010);
  });

  test('loadElf() writes through GuestMemory so cached code is invalidated', () => {
    const touched: [number, number][] = [];
    const size = 64 * MiB;
    const mem = new GuestMemory(new ArrayBuffer(size), {
      base: 0,
      size,
      invalidate: (gpa, len) => touched.push([gpa, len]),
    });
    loadElf(kernel, mem, { name: 'k.elf' });
    assert.ok(
      touched.some(([gpa, len]) => gpa <= 0x200000 && gpa + len >= 0x200006),
      `text range invalidated; saw ${JSON.stringify(touched)}`,
    );
  });
});

describe('loadElf() rejects bad images', () => {
  const rejects = (image: Uint8Array, message: RegExp, mem = ram()): void => {
    assert.throws(
      () => loadElf(image, mem, { name: 'kernel.bin' }),
      (err: unknown) => {
        assert.ok(err instanceof KernelLoadError, `a KernelLoadError, got ${String(err)}`);
        assert.match(err.message, message);
        return true;
      },
    );
  };

  test('loadElf() rejects an empty image', () => {
    rejects(new Uint8Array(), /^kernel\.bin: empty file$/);
  });

  test('loadElf() rejects a non-ELF image', () => {
    rejects(
      new TextEncoder().encode('#!/bin/sh\necho hi\n'),
      /^kernel\.bin: not an ELF file \(bad magic\)$/,
    );
  });

  test('loadElf() rejects a truncated ELF header', () => {
    rejects(kernel.subarray(0, 40), /^kernel\.bin: truncated ELF header \(40 bytes, need 64\)$/);
  });

  test('loadElf() rejects a 32-bit ELF', () => {
    rejects(elf32, /^kernel\.bin: ELF class 1 \(32-bit\) is not supported, need ELF64$/);
  });

  test('loadElf() rejects a big-endian ELF', () => {
    rejects(patch(kernel, 5, 2, 1), /^kernel\.bin: big-endian/);
  });

  test('loadElf() rejects a foreign machine', () => {
    rejects(patch(kernel, 0x12, 3, 2), /^kernel\.bin: ELF machine 3 is not x86-64$/);
  });

  test('loadElf() rejects a shared object', () => {
    rejects(
      patch(kernel, 0x10, 3, 2),
      /^kernel\.bin: ELF type 3 \(shared object\) is not an executable/,
    );
  });

  test('loadElf() rejects truncated program headers', () => {
    rejects(
      kernel.subarray(0, 64 + 56 + 20),
      /^kernel\.bin: truncated file: program headers at 0x40–0xe8 but the file has 140 bytes$/,
    );
  });

  test('loadElf() rejects segment data past the end of the file', () => {
    rejects(
      kernel.subarray(0, 0x1010),
      /^kernel\.bin: segment 0: file data at 0x1000 \(0x20 bytes\) runs past the end of the 4112-byte file$/,
    );
  });

  test('loadElf() rejects a segment outside guest RAM', () => {
    rejects(
      kernel,
      /^kernel\.bin: segment 1 at 0x201000 \(0x200c bytes\) does not fit in 2056 KiB of guest RAM$/,
      ram(0x201000 + 4096),
    );
  });

  test('loadElf() rejects a segment below 1 MiB', () => {
    // Program header 0's p_paddr (low 32 bits) at 0x40 + 24.
    rejects(
      patch(kernel, 0x58, 0x7000, 4),
      /^kernel\.bin: segment 0 at 0x7000 \(0x20 bytes\) starts below 0x100000, where the boot structures are$/,
    );
  });

  test('loadElf() rejects file size larger than memory size', () => {
    // Program header 1's p_memsz (low 32 bits) at 0x40 + 56 + 40.
    rejects(
      patch(kernel, 0xa0, 4, 4),
      /^kernel\.bin: segment 1: file size 0xc exceeds memory size 0x4$/,
    );
  });

  test('loadElf() rejects overlapping segments', () => {
    // Program header 1's p_paddr at 0x40 + 56 + 24: move segment 1 onto segment 0.
    rejects(
      patch(kernel, 0x78 + 24, 0x200010, 4),
      /^kernel\.bin: segments 0 and 1 overlap at 0x200010$/,
    );
  });

  test('loadElf() rejects an entry point outside every segment', () => {
    rejects(
      patch(kernel, 0x18, 0x5000, 4).fill(0, 0x1c, 0x20), // e_entry = 0x5000
      /^kernel\.bin: entry point 0x5000 is not inside any loadable segment$/,
    );
  });

  test('loadElf() rejects an ELF without program headers', () => {
    rejects(patch(kernel, 0x38, 0, 2), /^kernel\.bin: no program headers$/);
  });

  test('loadElf() leaves RAM untouched when a later segment does not fit', () => {
    const mem = ram(0x202000);
    assert.throws(() => loadElf(kernel, mem, { name: 'kernel.bin' }), KernelLoadError);
    assert.equal(mem.read8(0x200000), 0, 'segment 0 was not written');
  });
});

describe('loadKernelFile()', () => {
  test('loadKernelFile() names a missing file', async () => {
    await assert.rejects(loadKernelFile(join(dir, 'kernel.bin'), ram(), { name: 'kernel.bin' }), {
      name: 'KernelLoadError',
      message: 'kernel.bin: no such file',
    });
  });

  test('loadKernelFile() uses the path as given in messages by default', async () => {
    const path = join(dir, 'empty.bin');
    writeFileSync(path, '');
    await assert.rejects(loadKernelFile(path, ram()), { message: `${path}: empty file` });
  });

  test('loadKernelFile() names a directory', async () => {
    await assert.rejects(loadKernelFile(dir, ram(), { name: 'kdir' }), {
      message: 'kdir: is a directory',
    });
  });

  test('loadKernelFile() loads an ELF by its magic', async () => {
    const mem = ram();
    const k = await loadKernelFile(join(dir, 'k.elf'), mem);
    assert.equal(k.format, 'elf');
    assert.equal(mem.read8(0x200005), 0xf4, 'hlt after mov');
  });

  test('loadKernelFile() refuses a non-ELF file unless asked for a flat image', async () => {
    const path = join(dir, 'raw.bin');
    writeFileSync(path, Uint8Array.of(0xfa, 0xf4));
    const mem = ram();
    await assert.rejects(loadKernelFile(path, mem, { name: 'raw.bin' }), {
      message: 'raw.bin: not an ELF file (bad magic); a raw 64-bit image needs the flat option',
    });
    assert.deepEqual([...mem.view(FLAT_LOAD_ADDRESS, 2)], [0, 0], 'nothing was loaded');
  });

  test('loadKernelFile() with flat loads a raw image at 1 MiB and enters at its first byte', async () => {
    const path = join(dir, 'flat.bin');
    writeFileSync(path, Uint8Array.of(0xfa, 0xf4)); // cli; hlt
    const mem = ram();
    const k = await loadKernelFile(path, mem, { flat: true });
    assert.equal(k.format, 'flat');
    assert.equal(k.entry, BigInt(FLAT_LOAD_ADDRESS));
    assert.equal(k.pvhEntry, undefined, 'no PVH entry in a flat image');
    assert.deepEqual([k.lowest, k.highest], [0x100000, 0x100002]);
    assert.deepEqual([...mem.view(FLAT_LOAD_ADDRESS, 2)], [0xfa, 0xf4]);
  });

  test('loadKernelFile() rejects a flat image larger than RAM', async () => {
    const path = join(dir, 'big.bin');
    writeFileSync(path, new Uint8Array(2 * MiB));
    await assert.rejects(loadKernelFile(path, ram(2 * MiB), { name: 'big.bin', flat: true }), {
      message:
        'big.bin: flat image at 0x100000 (0x200000 bytes) does not fit in 2 MiB of guest RAM',
    });
  });

  test('loadKernelFile() refuses a bzImage instead of running it flat', async () => {
    const path = join(dir, 'vmlinuz');
    const image = new Uint8Array(0x400);
    image.set(new TextEncoder().encode('HdrS'), 0x202);
    writeFileSync(path, image);
    await assert.rejects(loadKernelFile(path, ram(), { name: 'vmlinuz' }), {
      message: 'vmlinuz: a Linux bzImage, which cannot be loaded as a flat image',
    });
  });
});
