/**
 * Kernel image loading for direct boot: ELF64 x86-64 executables (a Linux `vmlinux`, a test
 * kernel linked with ld) and flat binaries. After rust-vmm linux-loader's `loader/elf`: parse
 * and validate everything first, then copy, so a bad image never leaves half a kernel in RAM.
 *
 * Formats: System V gABI "ELF Header" and "Program Header" (ELF-64 Object File Format 1.5),
 * field offsets as in Linux's include/uapi/linux/elf.h. Errors are {@link KernelLoadError}s
 * whose message starts with the image's display name, e.g. `vmlinux: ELF machine 3 is not
 * x86-64`, because users see them verbatim.
 */

import { readFile } from 'node:fs/promises';
import type { GuestMemory } from '../engine/memory.js';
import { FLAT_LOAD_ADDRESS, HIMEM_START } from './layout.js';

/** The four bytes every ELF file starts with: 0x7f 'E' 'L' 'F'. */
export const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);
/** `e_ident[EI_CLASS]` of a 64-bit object. */
export const ELFCLASS64 = 2;
/** `e_ident[EI_DATA]` of a little-endian object. */
export const ELFDATA2LSB = 1;
/** `e_type` of an executable. */
export const ET_EXEC = 2;
/** `e_machine` of x86-64 (AMD64). */
export const EM_X86_64 = 62;
/** `p_type` of a loadable segment. */
export const PT_LOAD = 1;
/** `p_type` of a segment of notes. */
export const PT_NOTE = 4;
/** `p_flags` bits: execute, write, read. */
export const PF_X = 1;
/** @see PF_X */
export const PF_W = 2;
/** @see PF_X */
export const PF_R = 4;
/**
 * Note type of the PVH entry point, in notes named "Xen" (xen/include/public/elfnote.h,
 * `XEN_ELFNOTE_PHYS32_ENTRY`): a 32-bit physical address entered in flat protected mode.
 */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

const EHDR_SIZE = 64; // sizeof(Elf64_Ehdr)
const PHDR_SIZE = 56; // sizeof(Elf64_Phdr)
const PN_XNUM = 0xffff; // e_phnum escape: the real count is in section header 0
const MAX_PHYS = 1n << 52n; // MAXPHYADDR 52: no physical address is larger
const ET_NAMES: Record<number, string> = { 1: 'relocatable', 3: 'shared object', 4: 'core' };

/** A bad kernel image or file; the message names the file and says what is wrong. */
export class KernelLoadError extends Error {
  override name = 'KernelLoadError';
}

/** One loadable segment of a kernel image. */
export interface KernelSegment {
  /** Index of its program header (0 for a flat image), as error messages number segments. */
  readonly index: number;
  /** Guest-physical load address. */
  readonly paddr: number;
  /** The address the segment is linked at; differs from `paddr` for vmlinux. */
  readonly vaddr: bigint;
  /** Offset of its bytes in the file. */
  readonly fileOffset: number;
  /** Bytes copied from the file. */
  readonly fileSize: number;
  /** Bytes occupied in memory; those past `fileSize` are zeroed (.bss). */
  readonly memSize: number;
  /** `p_flags`: {@link PF_R} | {@link PF_W} | {@link PF_X}. */
  readonly flags: number;
}

/** A kernel image: what was (or will be) loaded, and where to enter it. */
export interface KernelImage {
  /** How the image was recognised. */
  readonly format: 'elf' | 'flat';
  /** Guest-physical entry point for the 64-bit boot protocol. */
  readonly entry: bigint;
  /** Lowest guest-physical address occupied. */
  readonly lowest: number;
  /** One past the highest guest-physical byte occupied (exclusive end). */
  readonly highest: number;
  /** The loadable segments with a non-zero memory size, in program-header order. */
  readonly segments: readonly KernelSegment[];
  /** The PVH entry point from a `XEN_ELFNOTE_PHYS32_ENTRY` note, when the image has one. */
  readonly pvhEntry: number | undefined;
}

/** True when `image` starts with the ELF magic. */
export function isElf(image: Uint8Array): boolean {
  return image.length >= ELF_MAGIC.length && ELF_MAGIC.every((b, i) => image[i] === b);
}

/**
 * Parses and validates an ELF64 little-endian x86-64 executable without loading it.
 *
 * Segments go at `p_paddr`, never `p_vaddr`: vmlinux links at 0xffffffff81000000 and says
 * where it must sit physically in `p_paddr` (its per-CPU segment even has `p_vaddr` 0), and
 * ld sets `p_paddr` = `p_vaddr` unless a linker script says `AT()`, so there is no fallback.
 * `e_entry` is translated to physical through the segment whose virtual range holds it;
 * failing that it must already be physical (vmlinux's `ENTRY(phys_startup_64)`).
 */
export function parseElf(image: Uint8Array, name: string): KernelImage {
  // Explicitly typed so that TypeScript treats `fail(...)` statements as never returning.
  const fail: (problem: string) => never = (problem) => {
    throw new KernelLoadError(`${name}: ${problem}`);
  };
  if (image.length === 0) fail('empty file');
  if (!isElf(image)) fail('not an ELF file (bad magic)');
  if (image.length < EHDR_SIZE) {
    fail(`truncated ELF header (${image.length} bytes, need ${EHDR_SIZE})`);
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const cls = dv.getUint8(4); // e_ident[EI_CLASS]
  if (cls !== ELFCLASS64) {
    fail(`ELF class ${cls} (${cls === 1 ? '32-bit' : 'unknown'}) is not supported, need ELF64`);
  }
  if (dv.getUint8(5) !== ELFDATA2LSB) fail('big-endian or unknown ELF data encoding');
  const type = dv.getUint16(0x10, true);
  const machine = dv.getUint16(0x12, true);
  if (machine !== EM_X86_64) fail(`ELF machine ${machine} is not x86-64`);
  if (type !== ET_EXEC) {
    fail(`ELF type ${type} (${ET_NAMES[type] ?? 'unknown'}) is not an executable (ET_EXEC)`);
  }
  const entry = dv.getBigUint64(0x18, true);
  const phoff = dv.getBigUint64(0x20, true);
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  if (phnum === 0) fail('no program headers');
  if (phnum === PN_XNUM) fail('more than 65534 program headers are not supported');
  if (phentsize !== PHDR_SIZE) fail(`program header size ${phentsize}, expected ${PHDR_SIZE}`);
  const phend = phoff + BigInt(phnum * PHDR_SIZE);
  if (phend > BigInt(image.length)) {
    fail(
      `truncated file: program headers at ${hex(phoff)}–${hex(phend)} ` +
        `but the file has ${image.length} bytes`,
    );
  }

  const segments: KernelSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = Number(phoff) + i * PHDR_SIZE;
    const pType = dv.getUint32(ph, true);
    if (pType !== PT_LOAD && pType !== PT_NOTE) continue;
    const offset = dv.getBigUint64(ph + 8, true);
    const filesz = dv.getBigUint64(ph + 32, true);
    if (offset + filesz > BigInt(image.length)) {
      fail(
        `segment ${i}: file data at ${hex(offset)} (${hex(filesz)} bytes) runs past the end ` +
          `of the ${image.length}-byte file`,
      );
    }
    if (pType === PT_NOTE) {
      const align = dv.getBigUint64(ph + 48, true) === 8n ? 8 : 4;
      const found = findPvhEntry(dv, { start: Number(offset), size: Number(filesz), align });
      if (typeof found === 'string') fail(`segment ${i}: ${found}`);
      pvhEntry ??= found;
      continue;
    }
    const vaddr = dv.getBigUint64(ph + 16, true);
    const paddr = dv.getBigUint64(ph + 24, true);
    const memsz = dv.getBigUint64(ph + 40, true);
    if (filesz > memsz) {
      fail(`segment ${i}: file size ${hex(filesz)} exceeds memory size ${hex(memsz)}`);
    }
    if (memsz === 0n) continue;
    if (paddr + memsz > MAX_PHYS) {
      fail(`segment ${i} at ${hex(paddr)} (${hex(memsz)} bytes) is beyond any physical address`);
    }
    segments.push({
      index: i,
      paddr: Number(paddr),
      vaddr,
      fileOffset: Number(offset),
      fileSize: Number(filesz),
      memSize: Number(memsz),
      flags: dv.getUint32(ph + 4, true),
    });
  }
  if (segments.length === 0) fail('no loadable segments');

  const byAddress = [...segments].sort((a, b) => a.paddr - b.paddr);
  for (let k = 1; k < byAddress.length; k++) {
    const [prev, cur] = [byAddress[k - 1], byAddress[k]];
    if (prev && cur && cur.paddr < prev.paddr + prev.memSize) {
      fail(`segments ${prev.index} and ${cur.index} overlap at ${hex(cur.paddr)}`);
    }
  }

  const virt = segments.find((s) => entry >= s.vaddr && entry < s.vaddr + BigInt(s.memSize));
  let physEntry = virt ? entry - virt.vaddr + BigInt(virt.paddr) : undefined;
  if (physEntry === undefined) {
    const phys = segments.find(
      (s) => entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memSize),
    );
    if (phys) physEntry = entry;
  }
  if (physEntry === undefined) {
    return fail(`entry point ${hex(entry)} is not inside any loadable segment`);
  }

  return {
    format: 'elf',
    entry: physEntry,
    lowest: Math.min(...segments.map((s) => s.paddr)),
    highest: Math.max(...segments.map((s) => s.paddr + s.memSize)),
    segments,
    pvhEntry,
  };
}

/**
 * Scans one PT_NOTE segment for the Xen PVH entry note. Each note is `namesz`, `descsz`,
 * `type` (4 bytes each), then the name and the descriptor, each padded to `align` (gABI
 * "Note Section"; 4 in practice, 8 for segments aligned to 8). Returns the entry point,
 * `undefined` when absent, or a problem description for a malformed note.
 */
function findPvhEntry(
  dv: DataView,
  seg: { start: number; size: number; align: number },
): number | string | undefined {
  const pad = (n: number): number => Math.ceil(n / seg.align) * seg.align;
  const end = seg.start + seg.size;
  for (let off = seg.start; off + 12 <= end;) {
    const namesz = dv.getUint32(off, true);
    const descsz = dv.getUint32(off + 4, true);
    const type = dv.getUint32(off + 8, true);
    const nameAt = off + 12;
    const descAt = nameAt + pad(namesz);
    if (descAt + descsz > end) return `note at file offset ${hex(off)} is truncated`;
    const isXen =
      namesz === 4 &&
      dv.getUint8(nameAt) === 0x58 && // 'X'
      dv.getUint8(nameAt + 1) === 0x65 && // 'e'
      dv.getUint8(nameAt + 2) === 0x6e && // 'n'
      dv.getUint8(nameAt + 3) === 0;
    if (isXen && type === XEN_ELFNOTE_PHYS32_ENTRY) {
      // Linux emits it with _ASM_PTR, 8 bytes on x86-64; Xen's own spec says 4.
      if (descsz !== 4 && descsz !== 8) {
        return `Xen PHYS32_ENTRY note has a ${descsz}-byte value, expected 4 or 8`;
      }
      const value =
        descsz === 4 ? BigInt(dv.getUint32(descAt, true)) : dv.getBigUint64(descAt, true);
      if (value >= 1n << 32n) return `Xen PHYS32_ENTRY ${hex(value)} is not a 32-bit address`;
      return Number(value);
    }
    off = descAt + pad(descsz);
  }
  return undefined;
}

/**
 * Parses an ELF kernel (see {@link parseElf}) and copies its segments into guest RAM: each
 * segment's file bytes at its physical address, then zeroes up to its memory size. Nothing is
 * written unless every segment lies in RAM at or above {@link HIMEM_START}, below which the
 * boot structures of `layout.ts` live.
 */
export function loadElf(image: Uint8Array, mem: GuestMemory, opts: { name: string }): KernelImage {
  const kernel = parseElf(image, opts.name);
  for (const s of kernel.segments) checkPlacement(s, mem, opts.name);
  for (const s of kernel.segments) {
    mem.write(s.paddr, image.subarray(s.fileOffset, s.fileOffset + s.fileSize));
    mem.fill(s.paddr + s.fileSize, s.memSize - s.fileSize, 0);
  }
  return kernel;
}

/**
 * Loads a flat binary at {@link FLAT_LOAD_ADDRESS} and enters it there. A flat test kernel is
 * 64-bit code entered in long mode at its first byte, with the state `setupLongMode` builds.
 */
export function loadFlat(image: Uint8Array, mem: GuestMemory, opts: { name: string }): KernelImage {
  if (image.length === 0) throw new KernelLoadError(`${opts.name}: empty file`);
  const segment: KernelSegment = {
    index: 0,
    paddr: FLAT_LOAD_ADDRESS,
    vaddr: BigInt(FLAT_LOAD_ADDRESS),
    fileOffset: 0,
    fileSize: image.length,
    memSize: image.length,
    flags: PF_R | PF_W | PF_X,
  };
  if (!mem.contains(FLAT_LOAD_ADDRESS, image.length)) {
    throw new KernelLoadError(
      `${opts.name}: flat image at ${hex(FLAT_LOAD_ADDRESS)} (${hex(image.length)} bytes) ` +
        `does not fit in ${formatSize(mem.size)} of guest RAM`,
    );
  }
  mem.write(FLAT_LOAD_ADDRESS, image);
  return {
    format: 'flat',
    entry: BigInt(FLAT_LOAD_ADDRESS),
    lowest: FLAT_LOAD_ADDRESS,
    highest: FLAT_LOAD_ADDRESS + image.length,
    segments: [segment],
    pvhEntry: undefined,
  };
}

/** Reads a kernel or initrd file; a missing, unreadable or empty file is a KernelLoadError. */
export async function readImageFile(path: string, name: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : `cannot read: ${err instanceof Error ? err.message : String(err)}`;
    throw new KernelLoadError(`${name}: ${why}`, { cause: err });
  }
  if (bytes.length === 0) throw new KernelLoadError(`${name}: empty file`);
  return bytes;
}

/**
 * Reads a kernel file and loads it: an ELF by its magic, otherwise, with `opts.flat`, a flat
 * binary (without it, a non-ELF file is an error). A Linux bzImage is refused by name rather
 * than run as flat code (its "HdrS" signature at 0x202, Documentation/arch/x86/boot.rst).
 * `opts.name` (default: `path` as given) heads messages.
 */
export async function loadKernelFile(
  path: string,
  mem: GuestMemory,
  opts: { name?: string; flat?: boolean } = {},
): Promise<KernelImage> {
  const name = opts.name ?? path;
  const image = await readImageFile(path, name);
  if (isElf(image)) return loadElf(image, mem, { name });
  if (isBzImage(image)) {
    throw new KernelLoadError(`${name}: a Linux bzImage, which cannot be loaded as a flat image`);
  }
  if (opts.flat !== true) {
    throw new KernelLoadError(
      `${name}: not an ELF file (bad magic); a raw 64-bit image needs the flat option`,
    );
  }
  return loadFlat(image, mem, { name });
}

function isBzImage(image: Uint8Array): boolean {
  const hdrS = [0x48, 0x64, 0x72, 0x53]; // "HdrS" at 0x202
  return image.length >= 0x206 && hdrS.every((b, i) => image[0x202 + i] === b);
}

function checkPlacement(s: KernelSegment, mem: GuestMemory, name: string): void {
  const where = `segment ${s.index} at ${hex(s.paddr)} (${hex(s.memSize)} bytes)`;
  if (s.paddr < HIMEM_START) {
    throw new KernelLoadError(
      `${name}: ${where} starts below ${hex(HIMEM_START)}, where the boot structures are`,
    );
  }
  if (!mem.contains(s.paddr, s.memSize)) {
    throw new KernelLoadError(
      `${name}: ${where} does not fit in ${formatSize(mem.size)} of guest RAM`,
    );
  }
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** `67108864` → `64 MiB`; sizes that are not a whole number of KiB stay in bytes. */
function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}
