/**
 * The vCPU state for entering a kernel in 64-bit long mode, as Linux's "64-bit Boot Protocol"
 * (Documentation/arch/x86/boot.rst) requires: paging on with an identity map covering the
 * kernel, the zero page and the command line; a GDT with `__BOOT_CS` (0x10) and `__BOOT_DS`
 * (0x18); interrupts off; RSI = `struct boot_params`. Flat test kernels are entered the same
 * way. After Firecracker `arch/x86_64/regs.rs` and crosvm `x86_64/src/regs.rs`.
 *
 * This writes page tables, GDT and IDT into guest RAM at the addresses in `layout.ts` and
 * returns the registers; it does not build `boot_params` or touch a vCPU.
 */

import type { GuestMemory } from '../engine/memory.js';
import type { Regs, Segment, Sregs } from '../engine/types.js';
import {
  BOOT_GDT_MAX_ENTRIES,
  BOOT_GDT_START,
  BOOT_IDT_SIZE,
  BOOT_IDT_START,
  BOOT_STACK_POINTER,
  IDENTITY_MAP_SIZE,
  PAGE_TABLES_END,
  PDE_COUNT,
  PDE_START,
  PDPTE_START,
  PML4_START,
  ZERO_PAGE_SIZE,
} from './layout.js';
import {
  CR0_AM,
  CR0_ET,
  CR0_MP,
  CR0_NE,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  EFER_SCE,
  PAGE_SIZE_2M,
  PT_ENTRIES,
  PT_SIZE,
  PTE_P,
  PTE_PS,
  PTE_RW,
  RFLAGS_FIXED,
  SEG_TYPE_CODE_XRA,
  SEG_TYPE_DATA_RWA,
  SYS_TYPE_LDT,
  SYS_TYPE_TSS64_BUSY,
  TSS64_SIZE,
  encodeSegmentDescriptor,
  encodeSystemDescriptorHigh,
} from './x86_arch.js';

/**
 * CR0 at entry: Linux's own `CR0_STATE` (arch/x86/include/uapi/asm/processor-flags.h),
 * PE|MP|ET|NE|WP|AM|PG = 0x80050033, so the kernel starts in the state it would set itself.
 */
export const BOOT_CR0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;

/**
 * CR4 at entry: PAE only (0x20), as Firecracker. PGE is left for the kernel to turn on
 * (startup_64 writes CR4 itself), so no global translation outlives its first CR3 switch.
 */
export const BOOT_CR4 = CR4_PAE;

/**
 * EFER at entry: SCE|LME|LMA|NXE = 0xd01. LMA is normally set by the CPU when paging turns
 * on with LME = 1; a VMM setting registers directly must set it itself (KVM checks
 * LMA = LME & PG). NXE makes bit 63 of the kernel's early page tables legal.
 */
export const BOOT_EFER = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

/** GDT selectors, matching Linux's boot GDT (arch/x86/boot/compressed/head_64.S). */
export const BOOT_CS32_SELECTOR = 0x08;
/** `__BOOT_CS`: the 64-bit code segment CS holds at entry. */
export const BOOT_CS_SELECTOR = 0x10;
/** `__BOOT_DS`: the flat data segment in DS, ES, FS, GS and SS at entry. */
export const BOOT_DS_SELECTOR = 0x18;
/** The TSS placeholder TR holds at entry; a 16-byte descriptor occupying slots 4 and 5. */
export const BOOT_TSS_SELECTOR = 0x20;

const FLAT_LIMIT = 0xffff_ffff; // 4 GiB with G = 1: raw limit 0xfffff

/** 64-bit code: type execute/read/accessed, L = 1 (so D = 0), DPL 0 — descriptor 0x00af9b…. */
const CS64: Readonly<Segment> = {
  selector: BOOT_CS_SELECTOR,
  base: 0n,
  limit: FLAT_LIMIT,
  type: SEG_TYPE_CODE_XRA,
  present: true,
  dpl: 0,
  db: false,
  s: true,
  l: true,
  g: true,
};

/** 32-bit flat code, as Linux's `__KERNEL32_CS`; unused at entry but a valid descriptor. */
const CS32: Readonly<Segment> = { ...CS64, selector: BOOT_CS32_SELECTOR, db: true, l: false };

/** Flat data: read/write/accessed, D/B = 1, G = 1 — descriptor 0x00cf93…. */
const DS: Readonly<Segment> = {
  ...CS64,
  selector: BOOT_DS_SELECTOR,
  type: SEG_TYPE_DATA_RWA,
  db: true,
  l: false,
};

/**
 * TR: KVM refuses to enter a guest in long mode without a usable busy TSS in TR (VMX guest
 * state checks, SDM Vol. 3C "Checks on Guest Segment Registers"). Base 0, limit 0x67 is a
 * placeholder, as Firecracker's; Linux loads its own TR before it could ever use this one.
 */
const TR: Readonly<Segment> = {
  selector: BOOT_TSS_SELECTOR,
  base: 0n,
  limit: TSS64_SIZE - 1,
  type: SYS_TYPE_TSS64_BUSY,
  present: true,
  dpl: 0,
  db: false,
  s: false,
  l: false,
  g: false,
};

/** LDTR: none (selector 0, not present, which KVM reads as unusable). */
const LDT: Readonly<Segment> = {
  selector: 0,
  base: 0n,
  limit: 0,
  type: SYS_TYPE_LDT,
  present: false,
  dpl: 0,
  db: false,
  s: false,
  l: false,
  g: false,
};

/** GDT bytes written: null, CS32, CS64, DS, TSS (two slots). */
const GDT_SIZE = 6 * 8;

/** Options of {@link setupLongMode}. */
export interface LongModeOptions {
  /** Guest-physical entry point; must be in RAM below 4 GiB (the identity map). */
  entry: bigint;
  /** Initial RSP; default {@link BOOT_STACK_POINTER}. */
  stack?: bigint;
  /** Address of `struct boot_params` for RSI when booting Linux; RSI is 0 without it. */
  bootParams?: bigint;
}

/**
 * Writes the boot page tables, GDT and IDT placeholder into `mem` and returns the register
 * state that enters `opts.entry` in 64-bit mode with interrupts off. Throws when RAM cannot
 * hold the boot structures or an address in `opts` lies outside RAM.
 */
export function setupLongMode(
  mem: GuestMemory,
  opts: LongModeOptions,
): { regs: Regs; sregs: Sregs } {
  const stack = opts.stack ?? BigInt(BOOT_STACK_POINTER);
  const ram = BigInt(mem.size);
  if (mem.size < PAGE_TABLES_END) {
    throw new Error(
      `guest RAM of 0x${mem.size.toString(16)} bytes cannot hold the boot page tables, ` +
        `which end at 0x${PAGE_TABLES_END.toString(16)}`,
    );
  }
  if (opts.entry < 0n || opts.entry >= ram || opts.entry >= BigInt(IDENTITY_MAP_SIZE)) {
    throw new Error(
      `entry point 0x${opts.entry.toString(16)} is outside guest RAM or the 4 GiB identity map`,
    );
  }
  // The first push writes the 8 bytes below RSP.
  if (stack < 8n || stack > ram) {
    throw new Error(`boot stack 0x${stack.toString(16)} is outside guest RAM`);
  }
  const bp = opts.bootParams;
  if (bp !== undefined && (bp < 0n || bp + BigInt(ZERO_PAGE_SIZE) > ram)) {
    throw new Error(`boot_params at 0x${bp.toString(16)} is outside guest RAM`);
  }

  writeIdentityMap(mem);
  writeGdt(mem);
  // A not-present gate, so that the placeholder is inert even if IDTR's limit were raised.
  mem.fill(BOOT_IDT_START, BOOT_IDT_SIZE, 0);

  const regs: Regs = {
    rax: 0n,
    rbx: 0n,
    rcx: 0n,
    rdx: 0n,
    rsi: bp ?? 0n,
    rdi: 0n,
    rsp: stack,
    // RBP 0 ends frame-pointer backtraces at the entry frame (Firecracker copies RSP instead).
    rbp: 0n,
    r8: 0n,
    r9: 0n,
    r10: 0n,
    r11: 0n,
    r12: 0n,
    r13: 0n,
    r14: 0n,
    r15: 0n,
    rip: opts.entry,
    rflags: RFLAGS_FIXED, // IF = 0: the protocol requires interrupts disabled
  };
  const sregs: Sregs = {
    cs: { ...CS64 },
    ds: { ...DS },
    es: { ...DS },
    fs: { ...DS },
    gs: { ...DS },
    ss: { ...DS },
    tr: { ...TR },
    ldt: { ...LDT },
    gdt: { base: BigInt(BOOT_GDT_START), limit: GDT_SIZE - 1 },
    // Limit 0: no gate fits, so an early exception becomes #DF, then a triple fault (shutdown).
    idt: { base: BigInt(BOOT_IDT_START), limit: 0 },
    cr0: BOOT_CR0,
    cr2: 0n,
    cr3: BigInt(PML4_START),
    cr4: BOOT_CR4,
    cr8: 0n,
    efer: BOOT_EFER,
  };
  return { regs, sregs };
}

/**
 * Identity-maps [0, 4 GiB) with 2 MiB pages (SDM Vol. 3A §4.5): PML4[0] → the PDPT, whose
 * entries 0–3 → 4 page directories of 512 PDEs with PS = 1. The mapping is independent of RAM
 * size; only the tables themselves, at fixed low addresses, must be in RAM. Every other entry
 * is zeroed (not present) because RAM may hold a previous boot's bytes.
 */
function writeIdentityMap(mem: GuestMemory): void {
  const table = PTE_P | PTE_RW; // entries that reference a next-level table
  mem.fill(PML4_START, PT_SIZE, 0);
  mem.write64(PML4_START, BigInt(PDPTE_START) | table);
  mem.fill(PDPTE_START, PT_SIZE, 0);
  for (let d = 0; d < PDE_COUNT; d++) {
    const pd = PDE_START + d * PT_SIZE;
    mem.write64(PDPTE_START + d * 8, BigInt(pd) | table);
    const pdes = new DataView(new ArrayBuffer(PT_SIZE));
    for (let e = 0; e < PT_ENTRIES; e++) {
      const frame = BigInt((d * PT_ENTRIES + e) * PAGE_SIZE_2M);
      pdes.setBigUint64(e * 8, frame | PTE_P | PTE_RW | PTE_PS, true);
    }
    mem.write(pd, new Uint8Array(pdes.buffer)); // one write per table, not 512
  }
}

/** Writes the boot GDT and zeroes its unused slots. */
function writeGdt(mem: GuestMemory): void {
  mem.fill(BOOT_GDT_START, BOOT_GDT_MAX_ENTRIES * 8, 0);
  const slot = (selector: number): number => BOOT_GDT_START + selector;
  mem.write64(slot(BOOT_CS32_SELECTOR), encodeSegmentDescriptor(CS32));
  mem.write64(slot(BOOT_CS_SELECTOR), encodeSegmentDescriptor(CS64));
  mem.write64(slot(BOOT_DS_SELECTOR), encodeSegmentDescriptor(DS));
  mem.write64(slot(BOOT_TSS_SELECTOR), encodeSegmentDescriptor(TR));
  mem.write64(slot(BOOT_TSS_SELECTOR) + 8, encodeSystemDescriptorHigh(TR));
}
