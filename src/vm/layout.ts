/**
 * The guest-physical memory map for x86-64 direct boot, after Firecracker's
 * `src/vmm/src/arch/x86_64/layout.rs` and crosvm's `docs/book/src/appendix/memory_layout.md`.
 *
 * ```text
 * 0x0000_0000  real-mode IVT and BIOS data area      left alone
 * 0x0000_0500  GDT (8 slots)                         BOOT_GDT_START
 * 0x0000_0540  IDT placeholder (one gate)            BOOT_IDT_START
 * 0x0000_6000  PVH hvm_start_info (later)            PVH_INFO_START
 * 0x0000_7000  struct boot_params ("zero page")      ZERO_PAGE_START
 * 0x0000_8ff0  boot stack top, grows down            BOOT_STACK_POINTER
 * 0x0000_9000  PML4                                  PML4_START
 * 0x0000_a000  PDPT                                  PDPTE_START
 * 0x0000_b000  4 page directories, to 0xefff         PDE_START
 * 0x0002_0000  kernel command line, 2048 bytes       CMDLINE_START
 * 0x0009_fc00  EBDA, then VGA and ROM: not RAM       EBDA_START
 * 0x0010_0000  high memory: kernel images            HIMEM_START
 * ```
 *
 * Everything the VMM writes for boot lives below 640 KiB so that the kernel, which loads at
 * or above 1 MiB, can never overlap it. All values are guest-physical byte addresses.
 */

import { PD_SPAN, PT_SIZE } from './x86_arch.js';

/**
 * The GDT. 0x500 is the first byte after the real-mode interrupt vector table (0x000–0x3ff)
 * and the BIOS data area (0x400–0x4ff), so a later BIOS boot finds both untouched.
 */
export const BOOT_GDT_START = 0x500;

/**
 * Slots (8 bytes each) reserved for the GDT. We use six: null, 32-bit code, 64-bit code, data
 * and a 16-byte TSS descriptor, which is why this is 8 and not Firecracker's 4 (Firecracker
 * writes an 8-byte TSS descriptor, which is only half of one in long mode).
 */
export const BOOT_GDT_MAX_ENTRIES = 8;

/**
 * The IDT placeholder, right after the GDT's reserved slots. IDTR at entry has limit 0, so any
 * exception before the kernel loads its own IDT escalates to a triple fault: a clean shutdown
 * exit instead of a jump through garbage.
 */
export const BOOT_IDT_START = BOOT_GDT_START + BOOT_GDT_MAX_ENTRIES * 8;

/** Bytes reserved for the IDT placeholder: one 16-byte long-mode gate, left not-present. */
export const BOOT_IDT_SIZE = 16;

/** Where a PVH boot will put `struct hvm_start_info` (Firecracker, Cloud Hypervisor). */
export const PVH_INFO_START = 0x6000;

/**
 * `struct boot_params`, the Linux "zero page" (Documentation/arch/x86/zero-page.rst). The
 * 64-bit boot protocol passes its address in RSI.
 */
export const ZERO_PAGE_START = 0x7000;

/** `sizeof(struct boot_params)`: one 4 KiB page. */
export const ZERO_PAGE_SIZE = 0x1000;

/**
 * Initial RSP of the boot CPU: the top of the page between the zero page and the PML4, 16
 * bytes below the PML4 as in Firecracker. The kernel switches to its own stack at once.
 */
export const BOOT_STACK_POINTER = 0x8ff0;

/** The PML4 (top-level paging structure) that CR3 points to at entry. */
export const PML4_START = 0x9000;

/** The one page-directory-pointer table; its first 4 entries cover 4 GiB. */
export const PDPTE_START = 0xa000;

/** The first of {@link PDE_COUNT} consecutive page directories of 2 MiB pages. */
export const PDE_START = 0xb000;

/** Page directories written: each maps 1 GiB with 2 MiB pages, so 4 cover 4 GiB. */
export const PDE_COUNT = 4;

/** One past the last byte of the boot page tables: 0xf000. */
export const PAGE_TABLES_END = PDE_START + PDE_COUNT * PT_SIZE;

/**
 * Bytes identity-mapped at entry: all of the 32-bit space (as crosvm does; Firecracker maps
 * 1 GiB). The mapping does not depend on RAM size, so a kernel, initrd or MMIO window anywhere
 * below 4 GiB is reachable before the kernel builds its own tables.
 */
export const IDENTITY_MAP_SIZE = PDE_COUNT * PD_SPAN;

/** The kernel command line, NUL-terminated; `boot_params.hdr.cmd_line_ptr` points here. */
export const CMDLINE_START = 0x2_0000;

/**
 * Maximum command line including its terminating NUL: Linux's x86 `COMMAND_LINE_SIZE`
 * (arch/x86/include/asm/setup.h), also Firecracker's and crosvm's limit.
 */
export const CMDLINE_MAX_SIZE = 2048;

/**
 * Start of the Extended BIOS Data Area. From here to {@link HIMEM_START} is the legacy hole
 * (EBDA, VGA memory at 0xa0000, option and system ROMs at 0xc0000–0xfffff): the e820 map
 * reports RAM only below this address and from 1 MiB up.
 */
export const EBDA_START = 0x9_fc00;

/** Start of high memory (1 MiB): the lowest address a kernel image may occupy. */
export const HIMEM_START = 0x10_0000;

/**
 * Where a flat (non-ELF) kernel image is loaded, and its entry point. 1 MiB is the first
 * address above the legacy hole and where the bzImage protocol puts protected-mode code
 * (`code32_start` = 0x100000); test guests assemble with `org 0x100000`. ELF kernels ignore
 * it: their segments go where their physical addresses say.
 */
export const FLAT_LOAD_ADDRESS = HIMEM_START;
