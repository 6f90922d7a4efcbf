/**
 * `struct boot_params`, the Linux "zero page" that the 64-bit boot protocol passes in RSI
 * (Documentation/arch/x86/zero-page.rst; the embedded setup header is described in
 * Documentation/arch/x86/boot.rst; C layout in arch/x86/include/uapi/asm/bootparam.h). The page
 * starts zeroed; the loader copies in the kernel's setup header, fills the fields a boot loader
 * writes (loader type, command line, initrd) and the e820 memory map.
 */

import { EBDA_START, HIMEM_START, ZERO_PAGE_SIZE } from './layout.js';

/** Offsets of the boot_params fields the loader writes or reads (zero-page.rst, boot.rst). */
export const BootParamsOffset = {
  /** ramdisk_image bits 63:32 (u32). */
  extRamdiskImage: 0x0c0,
  /** ramdisk_size bits 63:32 (u32). */
  extRamdiskSize: 0x0c4,
  /** cmd_line_ptr bits 63:32 (u32). */
  extCmdLinePtr: 0x0c8,
  /** Number of entries in e820_table (u8). */
  e820Entries: 0x1e8,
  /** Nonzero when a loader copied the boot sector wholesale (u8); we leave it 0. */
  sentinel: 0x1ef,
  /** The setup header, `struct setup_header`; its first field is setup_sects (u8). */
  hdr: 0x1f1,
  /** Video mode (u16); 0xffff is "normal". */
  vidMode: 0x1fa,
  /** 0xaa55 (u16). */
  bootFlag: 0x1fe,
  /** 0xeb and the header's length past 0x202 (u8 each). */
  jump: 0x200,
  /** "HdrS" (u32). */
  header: 0x202,
  /** Boot protocol version, major << 8 | minor (u16). */
  version: 0x206,
  /** Offset of the kernel version string, less 0x200 (u16). */
  kernelVersion: 0x20e,
  /** Boot loader id (u8); 0xff is "undefined". */
  typeOfLoader: 0x210,
  /** LOADED_HIGH, KASLR_FLAG, QUIET_FLAG, CAN_USE_HEAP (u8). */
  loadflags: 0x211,
  /** 32-bit entry / load address (u32). */
  code32Start: 0x214,
  /** Physical address of the initrd (u32). */
  ramdiskImage: 0x218,
  /** Size of the initrd (u32). */
  ramdiskSize: 0x21c,
  /** Physical address of the NUL-terminated command line (u32). */
  cmdLinePtr: 0x228,
  /** Highest address the initrd may occupy (u32). */
  initrdAddrMax: 0x22c,
  /** Alignment the kernel wants (u32). */
  kernelAlignment: 0x230,
  /** Nonzero when the kernel is relocatable (u8). */
  relocatableKernel: 0x234,
  /** XLF_* flags (u16). */
  xloadflags: 0x236,
  /** Longest command line without its NUL (u32). */
  cmdlineSize: 0x238,
  /** Offset of the compressed payload from the protected-mode code (u32). */
  payloadOffset: 0x248,
  /** Length of the payload (u32). */
  payloadLength: 0x24c,
  /** Physical address of the first struct setup_data (u64). */
  setupData: 0x250,
  /** Preferred load address (u64). */
  prefAddress: 0x258,
  /** Memory the kernel needs from its start before it reads the memory map (u32). */
  initSize: 0x260,
  /** The e820 table, {@link E820_MAX_ENTRIES_ZEROPAGE} entries of {@link E820_ENTRY_SIZE}. */
  e820Table: 0x2d0,
} as const;

/** The setup header cannot extend past this offset, where edd_mbr_sig_buffer starts. */
export const SETUP_HEADER_LIMIT = 0x290;
/** "HdrS" read as a little-endian u32. */
export const HDRS_MAGIC = 0x5372_6448;
/** The boot sector signature in `boot_flag`. */
export const BOOT_FLAG_MAGIC = 0xaa55;
/** `type_of_loader` of a loader without an assigned id. */
export const LOADER_TYPE_UNDEFINED = 0xff;
/** `loadflags` bit 0: protected-mode code is loaded at 0x100000. */
export const LOADED_HIGH = 0x01;
/** `xloadflags` bit 0: the kernel has the 64-bit entry point at load address + 0x200. */
export const XLF_KERNEL_64 = 0x01;
/** `xloadflags` bit 1: kernel, boot_params, command line and initrd may sit above 4 GiB. */
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;
/** Entries that fit the zero page's e820_table (E820_MAX_ENTRIES_ZEROPAGE). */
export const E820_MAX_ENTRIES_ZEROPAGE = 128;
/** `sizeof(struct boot_e820_entry)`: addr u64, size u64, type u32, packed. */
export const E820_ENTRY_SIZE = 20;
/** e820 type of usable RAM. */
export const E820_RAM = 1;
/** e820 type of reserved memory. */
export const E820_RESERVED = 2;

/** The alignment a synthesised header advertises (Firecracker's, the kernel's 16 MiB). */
const SYNTHETIC_KERNEL_ALIGNMENT = 0x100_0000;

/** One range of the e820 memory map. */
export interface E820Entry {
  /** First guest-physical byte. */
  readonly addr: number;
  /** Length in bytes. */
  readonly size: number;
  /** {@link E820_RAM}, {@link E820_RESERVED}, … */
  readonly type: number;
}

/**
 * The e820 map of a guest with `ramSize` bytes of RAM from address 0: RAM below the EBDA
 * (639 KiB), the legacy hole from there to 1 MiB left out (EBDA, VGA, ROMs: not RAM), and RAM
 * from 1 MiB to the end.
 */
export function e820Map(ramSize: number): E820Entry[] {
  if (!Number.isSafeInteger(ramSize) || ramSize <= HIMEM_START) {
    throw new RangeError(`guest RAM of ${ramSize} bytes does not reach past 1 MiB`);
  }
  return [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: HIMEM_START, size: ramSize - HIMEM_START, type: E820_RAM },
  ];
}

/** What {@link buildBootParams} writes. */
export interface BootParamsSpec {
  /**
   * The kernel's setup header: the bzImage's bytes from 0x1f1 to the header's end (0x202 plus
   * the byte at 0x201). Absent for a bare vmlinux, which has none: then the few fields the
   * kernel reads are synthesised (boot_flag, "HdrS", kernel_alignment, cmdline_size), as
   * Firecracker and crosvm do.
   */
  readonly header?: Uint8Array;
  /** The command line: its address and its length without the NUL. */
  readonly cmdline: { readonly address: number; readonly length: number };
  /** The initrd in guest RAM, if any. */
  readonly initrd?: { readonly address: number; readonly size: number };
  /** The memory map, at most {@link E820_MAX_ENTRIES_ZEROPAGE} entries. */
  readonly e820: readonly E820Entry[];
}

/** Builds the 4 KiB zero page. Throws a RangeError for a header or map that does not fit. */
export function buildBootParams(spec: BootParamsSpec): Uint8Array {
  const page = new Uint8Array(ZERO_PAGE_SIZE);
  const dv = new DataView(page.buffer);
  const O = BootParamsOffset;
  if (spec.header !== undefined) {
    if (O.hdr + spec.header.length > SETUP_HEADER_LIMIT) {
      throw new RangeError(
        `a setup header of ${spec.header.length} bytes runs past 0x${SETUP_HEADER_LIMIT.toString(16)}`,
      );
    }
    page.set(spec.header, O.hdr);
  } else {
    dv.setUint16(O.bootFlag, BOOT_FLAG_MAGIC, true);
    dv.setUint32(O.header, HDRS_MAGIC, true);
    dv.setUint32(O.kernelAlignment, SYNTHETIC_KERNEL_ALIGNMENT, true);
    dv.setUint32(O.cmdlineSize, spec.cmdline.length, true);
  }
  page[O.typeOfLoader] = LOADER_TYPE_UNDEFINED;
  setSplit(dv, O.cmdLinePtr, O.extCmdLinePtr, spec.cmdline.address);
  if (spec.initrd !== undefined) {
    setSplit(dv, O.ramdiskImage, O.extRamdiskImage, spec.initrd.address);
    setSplit(dv, O.ramdiskSize, O.extRamdiskSize, spec.initrd.size);
  }
  if (spec.e820.length > E820_MAX_ENTRIES_ZEROPAGE) {
    throw new RangeError(
      `${spec.e820.length} e820 entries, the zero page holds ${E820_MAX_ENTRIES_ZEROPAGE}`,
    );
  }
  page[O.e820Entries] = spec.e820.length;
  spec.e820.forEach((entry, i) => {
    const at = O.e820Table + i * E820_ENTRY_SIZE;
    dv.setBigUint64(at, BigInt(entry.addr), true);
    dv.setBigUint64(at + 8, BigInt(entry.size), true);
    dv.setUint32(at + 16, entry.type, true);
  });
  return page;
}

/** Writes a 64-bit value as a u32 field and its `ext_` u32 field for bits 63:32. */
function setSplit(dv: DataView, low: number, high: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`boot_params value ${value} is not a 64-bit address or size`);
  }
  dv.setUint32(low, value % 2 ** 32, true);
  dv.setUint32(high, Math.floor(value / 2 ** 32), true);
}
