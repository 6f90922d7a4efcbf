/**
 * x86-64 architectural constants the machine layer needs to put a vCPU into long mode, named
 * as in the Intel SDM (Intel 64 and IA-32 Architectures Software Developer's Manual). The
 * software engine has its own AssemblyScript copies of some of these; the two need not share
 * a file because the values are fixed by the architecture, not by us.
 *
 * Register-sized values are `bigint` because {@link Sregs} holds control registers as
 * `bigint`; page-table entries are `bigint` because they are 64-bit and bit 63 (XD) matters.
 *
 * Section numbers below are those of SDM Vol. 3A chapters 2–4, which have kept their numbers
 * across editions; later chapters are cited by title because their numbers have moved.
 */

import type { Segment } from '../engine/types.js';

// CR0, SDM Vol. 3A §2.5 "Control Registers", Figure 2-7.

/** CR0 bit 0, Protection Enable. */
export const CR0_PE = 1n << 0n;
/** CR0 bit 1, Monitor Coprocessor: WAIT/FWAIT honour TS. */
export const CR0_MP = 1n << 1n;
/** CR0 bit 4, Extension Type: hard-wired to 1 since the i486. */
export const CR0_ET = 1n << 4n;
/** CR0 bit 5, Numeric Error: report x87 errors as #MF rather than through FERR#/IRQ 13. */
export const CR0_NE = 1n << 5n;
/** CR0 bit 16, Write Protect: supervisor writes honour read-only pages. */
export const CR0_WP = 1n << 16n;
/** CR0 bit 18, Alignment Mask: allows #AC when EFLAGS.AC = 1 at CPL 3. */
export const CR0_AM = 1n << 18n;
/** CR0 bit 31, Paging. */
export const CR0_PG = 1n << 31n;

// CR4, SDM Vol. 3A §2.5 "Control Registers", Figure 2-7.

/** CR4 bit 5, Physical Address Extension: required for IA-32e paging. */
export const CR4_PAE = 1n << 5n;
/** CR4 bit 7, Page Global Enable. */
export const CR4_PGE = 1n << 7n;

// IA32_EFER, SDM Vol. 3A §2.2.1 "Extended Feature Enable Register".

/** Address of the IA32_EFER MSR (SDM Vol. 4, Table 2-2). */
export const MSR_IA32_EFER = 0xc000_0080;
/** EFER bit 0, SYSCALL Enable. */
export const EFER_SCE = 1n << 0n;
/** EFER bit 8, IA-32e Mode Enable. */
export const EFER_LME = 1n << 8n;
/** EFER bit 10, IA-32e Mode Active: set by the CPU when LME = 1 and CR0.PG = 1. */
export const EFER_LMA = 1n << 10n;
/** EFER bit 11, Execute-Disable Bit Enable: makes bit 63 of paging entries meaningful. */
export const EFER_NXE = 1n << 11n;

// RFLAGS, SDM Vol. 1 §3.4.3 "EFLAGS Register".

/** RFLAGS bit 1 is reserved and always reads 1. */
export const RFLAGS_FIXED = 1n << 1n;
/** RFLAGS bit 9, Interrupt Enable. */
export const RFLAGS_IF = 1n << 9n;

// Paging-structure entries, SDM Vol. 3A §4.5 "4-Level Paging and 5-Level Paging", Table 4-15
// (PML4E), Table 4-17 (PDPTE that references a page directory), Table 4-18 (PDE that maps a
// 2-MByte page).

/** Bit 0, Present. */
export const PTE_P = 1n << 0n;
/** Bit 1, Read/Write: writes allowed. */
export const PTE_RW = 1n << 1n;
/** Bit 2, User/Supervisor: CPL 3 accesses allowed. */
export const PTE_US = 1n << 2n;
/** Bit 5, Accessed. */
export const PTE_A = 1n << 5n;
/** Bit 6, Dirty (only in entries that map a page). */
export const PTE_D = 1n << 6n;
/** Bit 7 of a PDE or PDPTE, Page Size: the entry maps a 2 MiB (or 1 GiB) page. */
export const PTE_PS = 1n << 7n;
/** Bit 8 of an entry that maps a page, Global (with CR4.PGE). */
export const PTE_G = 1n << 8n;
/** Bit 63, Execute-Disable (with EFER.NXE). */
export const PTE_XD = 1n << 63n;
/** The physical-address bits of an entry, for MAXPHYADDR 52 (bits 51:12). */
export const PTE_ADDR_MASK = 0x000f_ffff_ffff_f000n;

/** Entries in one paging structure (4 KiB of 8-byte entries). */
export const PT_ENTRIES = 512;
/** Size of one paging structure in bytes. */
export const PT_SIZE = 4096;
/** Bytes mapped by a PDE with PS = 1. */
export const PAGE_SIZE_2M = 0x20_0000;
/** Bytes covered by one page directory (512 × 2 MiB), i.e. by one PDPTE. */
export const PD_SPAN = 0x4000_0000;

// Segment descriptor type field, SDM Vol. 3A §3.4.5.1 "Code- and Data-Segment Descriptor
// Types", Table 3-1, and §3.5 "System Descriptor Types", Table 3-2.

/** Data segment, read/write, accessed. */
export const SEG_TYPE_DATA_RWA = 0x3;
/** Code segment, execute/read, accessed. */
export const SEG_TYPE_CODE_XRA = 0xb;
/** System descriptor: LDT. */
export const SYS_TYPE_LDT = 0x2;
/** System descriptor: 64-bit TSS (available). */
export const SYS_TYPE_TSS64_AVAIL = 0x9;
/** System descriptor: 64-bit TSS (busy); the state TR must be in after LTR. */
export const SYS_TYPE_TSS64_BUSY = 0xb;

/** Size of a 64-bit TSS with no I/O permission bitmap, so its limit is 0x67. */
export const TSS64_SIZE = 0x68;

/**
 * Encodes a segment's cached state as the 8-byte descriptor that would load it (SDM Vol. 3A
 * §3.4.5 "Segment Descriptors", Figure 3-8). `seg.limit` is the scaled limit, as in the cache:
 * with G = 1 it must end in 0xfff. For a system descriptor in 64-bit mode this is the low half
 * only; {@link encodeSystemDescriptorHigh} gives the other 8 bytes.
 */
export function encodeSegmentDescriptor(seg: Segment): bigint {
  const rawLimit = seg.g ? seg.limit >>> 12 : seg.limit;
  if (seg.g && (seg.limit & 0xfff) !== 0xfff) {
    throw new RangeError(`segment limit 0x${seg.limit.toString(16)} is not 4 KiB-granular`);
  }
  if (rawLimit < 0 || rawLimit > 0xf_ffff) {
    throw new RangeError(`segment limit 0x${seg.limit.toString(16)} does not fit 20 bits`);
  }
  const base = BigInt.asUintN(32, seg.base);
  const limit = BigInt(rawLimit);
  let d = limit & 0xffffn; // limit 15:0
  d |= (base & 0xff_ffffn) << 16n; // base 23:0
  d |= BigInt(seg.type & 0xf) << 40n;
  if (seg.s) d |= 1n << 44n;
  d |= BigInt(seg.dpl & 3) << 45n;
  if (seg.present) d |= 1n << 47n;
  d |= (limit >> 16n) << 48n; // limit 19:16
  if (seg.l) d |= 1n << 53n;
  if (seg.db) d |= 1n << 54n;
  if (seg.g) d |= 1n << 55n;
  d |= (base >> 24n) << 56n; // base 31:24
  return d;
}

/**
 * The upper 8 bytes of a 16-byte system descriptor (TSS, LDT) in IA-32e mode: base 63:32 and
 * zeroes (SDM Vol. 3A, "TSS Descriptor in 64-bit mode", Task Management chapter).
 */
export function encodeSystemDescriptorHigh(seg: Segment): bigint {
  return BigInt.asUintN(64, seg.base) >> 32n;
}
