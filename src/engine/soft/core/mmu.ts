// The software MMU: 4-level long-mode paging (SDM Vol. 3A, 4.5) behind a direct-mapped TLB.
// A TLB entry holds one tag per access kind (read, write, execute) and an addend that turns a
// virtual address into a host address in the wasm memory, as QEMU's softmmu does. A tag is set
// only when that access may take the fast path: the page is RAM, the access is allowed, and for
// writes the dirty bit is already set. Everything else (MMIO, first writes, faults, accesses
// crossing a page) goes through the slow path.

import { TLB, TLB_ENTRIES, TLB_ENTRY_SIZE, TLB_SET_SIZE, RAM_BASE } from './layout';
import {
  cr0, cr3, cr4, efer, cpl, mode, setCr2,
  CR0_PG, CR0_WP, CR4_PAE, EFER_LMA, EFER_NXE,
} from './state';
import { raise, raiseGP, EXC_PF } from './exceptions';
import { pageHasCode, invalidateCodePage } from './icache';
import { breakBlock } from './control';

@external('env', 'mmioRead') declare function mmioRead(gpa: f64, size: u32): u32;
@external('env', 'mmioWrite') declare function mmioWrite(gpa: f64, size: u32, value: u32): void;

export const ACC_READ: u32 = 0;
export const ACC_WRITE: u32 = 1;
export const ACC_EXEC: u32 = 2;

export const PAGE_MASK: u64 = ~<u64>0xfff;
/**
 * Tags are a virtual page number with the TLB's epoch in the low 12 bits: flushTlb() moves to
 * the next epoch, which orphans every entry at once. Epoch 0 is never current, so 0 is the
 * tag of an empty entry.
 */
const NO_TAG: u64 = 0;
const EPOCH_LIMIT: u64 = 0x1000;
let epoch: u64 = 1;
/** fetchPage's value when no page is cached (no page-aligned address equals it). */
const NO_FETCH: u64 = 1;

@inline function tagOf(va: u64): u64 {
  return (va & PAGE_MASK) | epoch;
}
const E_TAG_W: usize = 8;
const E_TAG_X: usize = 16;
const E_ADDEND: usize = 24;

// Page-table entry bits (SDM Vol. 3A, Table 4-19 and following).
const PTE_P: u64 = 1 << 0;
const PTE_RW: u64 = 1 << 1;
const PTE_US: u64 = 1 << 2;
const PTE_A: u64 = 1 << 5;
const PTE_D: u64 = 1 << 6;
const PTE_PS: u64 = 1 << 7;
const PTE_NX: u64 = <u64>1 << 63;
/** Physical-address bits of an entry, for a MAXPHYADDR of 40 (CPUID 0x80000008). */
const PTE_ADDR: u64 = 0x0000_00ff_ffff_f000;
/** Bits 51:40 must be zero for MAXPHYADDR 40. */
const PTE_RSVD_HIGH: u64 = 0x000f_ff00_0000_0000;

// #PF error code bits (SDM Vol. 3A, 4.7).
const PF_P: u64 = 1 << 0;
const PF_W: u64 = 1 << 1;
const PF_U: u64 = 1 << 2;
const PF_RSVD: u64 = 1 << 3;
const PF_I: u64 = 1 << 4;

/** Guest RAM size in bytes; physical addresses at or above it are MMIO. */
export let ramSize: u64 = 0;
/** The TLB set for the current privilege (user accesses use the second set). */
let tlbSet: usize = TLB;
/**
 * The 2 MiB regions whose translations came from large pages, so that INVLPG of any address
 * in one drops the whole large page; past LARGE_REGIONS of them, INVLPG flushes everything.
 */
const LARGE_REGIONS: i32 = 16;
const largeRegions = new StaticArray<u64>(LARGE_REGIONS);
let largeCount: i32 = 0;
let largeOverflow: bool = false;
const LARGE_MASK: u64 = ~<u64>0x1f_ffff;

function noteLargePage(va: u64): void {
  const region = va & LARGE_MASK;
  for (let i = 0; i < largeCount; i++) if (unchecked(largeRegions[i]) == region) return;
  if (largeCount == LARGE_REGIONS) largeOverflow = true;
  else unchecked(largeRegions[largeCount++] = region);
}
/** Fetch cache: the page the decoder reads from and its addend. */
export let fetchPage: u64 = NO_FETCH;
export let fetchAddend: u64 = 0;

export function setRamSize(size: u64): void { ramSize = size; }

/** Selects the TLB set for the current CPL; call after CPL changes. */
export function selectTlbSet(): void {
  tlbSet = cpl == 3 ? TLB + TLB_SET_SIZE : TLB;
  fetchPage = NO_FETCH;
  breakBlock();
}

/** Drops every cached translation (CR3 load, CR0/CR4 paging changes, SetSregs). */
export function flushTlb(): void {
  if (++epoch == EPOCH_LIMIT) {
    memory.fill(TLB, 0, TLB_SET_SIZE * 2);
    epoch = 1;
  }
  largeCount = 0;
  largeOverflow = false;
  fetchPage = NO_FETCH;
  breakBlock();
}

/** INVLPG: drops the translations of the page holding `va` (the whole 2 MiB page if large). */
export function invalidatePage(va: u64): void {
  if (largeOverflow) {
    flushTlb();
    return;
  }
  const region = va & LARGE_MASK;
  let large = false;
  for (let i = 0; i < largeCount; i++) {
    if (unchecked(largeRegions[i]) == region) {
      large = true;
      unchecked(largeRegions[i] = largeRegions[--largeCount]);
      break;
    }
  }
  if (large) {
    for (let i: u64 = 0; i < 512; i++) dropEntry(region + (i << 12));
  } else {
    dropEntry(va);
  }
  fetchPage = NO_FETCH;
  breakBlock();
}

/** Takes the write fast path away from every TLB entry that maps physical page `pa`. */
export function dropWriteTags(pa: u64): void {
  const page = pa & PAGE_MASK;
  for (let e: usize = TLB; e < TLB + TLB_SET_SIZE * 2; e += TLB_ENTRY_SIZE) {
    const tag = load<u64>(e, E_TAG_W);
    if ((tag & 0xfff) == epoch && (tag & PAGE_MASK) + load<u64>(e, E_ADDEND) - <u64>RAM_BASE == page) {
      store<u64>(e, NO_TAG, E_TAG_W);
    }
  }
}

function dropEntry(va: u64): void {
  const page = tagOf(va);
  for (let set: usize = 0; set < 2; set++) {
    const e = TLB + set * TLB_SET_SIZE + ((<usize>(va >> 12) & (TLB_ENTRIES - 1)) * TLB_ENTRY_SIZE);
    if (load<u64>(e) == page || load<u64>(e, E_TAG_W) == page || load<u64>(e, E_TAG_X) == page) {
      store<u64>(e, NO_TAG);
      store<u64>(e, NO_TAG, E_TAG_W);
      store<u64>(e, NO_TAG, E_TAG_X);
    }
  }
}

@inline function entryFor(va: u64): usize {
  return tlbSet + ((<usize>(va >> 12) & (TLB_ENTRIES - 1)) * TLB_ENTRY_SIZE);
}

// --- physical accesses ---------------------------------------------------------------------

/** Reads `size` bytes at guest-physical `pa`; MMIO above RAM (8-byte reads in two halves). */
export function readPhys(pa: u64, size: u32): u64 {
  if (pa + size <= ramSize) {
    const h = RAM_BASE + <usize>pa;
    if (size == 1) return <u64>load<u8>(h);
    if (size == 2) return <u64>load<u16>(h);
    if (size == 4) return <u64>load<u32>(h);
    return load<u64>(h);
  }
  if (size == 8) return <u64>mmioRead(<f64>pa, 4) | (<u64>mmioRead(<f64>(pa + 4), 4) << 32);
  return <u64>mmioRead(<f64>pa, size);
}

/** Writes `size` bytes at guest-physical `pa`. */
export function writePhys(pa: u64, size: u32, v: u64): void {
  if (pa + size <= ramSize) {
    const h = RAM_BASE + <usize>pa;
    if (pageHasCode(pa)) invalidateCodePage(pa);
    if (pageHasCode(pa + size - 1)) invalidateCodePage(pa + size - 1);
    if (size == 1) store<u8>(h, <u8>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else if (size == 4) store<u32>(h, <u32>v);
    else store<u64>(h, v);
    return;
  }
  if (size == 8) {
    mmioWrite(<f64>pa, 4, <u32>v);
    mmioWrite(<f64>(pa + 4), 4, <u32>(v >> 32));
  } else {
    mmioWrite(<f64>pa, size, <u32>v);
  }
}

// --- page walk -------------------------------------------------------------------------------

/** Error code of the last failed walk. */
let walkError: u64 = 0;
/** Permissions the last successful walk found for the whole path. */
let walkWritable: bool = false;
let walkUser: bool = false;
let walkExec: bool = false;
let walkDirty: bool = false;
let walkLarge: bool = false;
const WALK_FAULT: u64 = <u64>-1;

/**
 * Translates `va` for an access of kind `acc`. With `commit`, sets accessed and dirty bits as
 * the CPU does; without, only looks. Returns WALK_FAULT with walkError set on a fault.
 */
function walk(va: u64, acc: u32, user: bool, commit: bool): u64 {
  if ((cr0 & CR0_PG) == 0) {
    walkWritable = true; walkUser = true; walkExec = true; walkDirty = true; walkLarge = false;
    return mode == 64 ? va : va & 0xffff_ffff;
  }
  if ((efer & EFER_LMA) == 0 || (cr4 & CR4_PAE) == 0) {
    // Legacy 32-bit and PAE paging are not implemented yet: report a reserved-bit fault.
    walkError = PF_RSVD | PF_P;
    return WALK_FAULT;
  }
  const nxe = (efer & EFER_NXE) != 0;
  const rsvd = PTE_RSVD_HIGH | (nxe ? 0 : PTE_NX);
  let table = cr3 & PTE_ADDR;
  let writable = true, userOk = true, exec = true;
  let entry: u64 = 0, entryAddr: u64 = 0;
  let level = 4;
  let pageSize: u64 = 4096;
  const baseErr: u64 = (acc == ACC_WRITE ? PF_W : 0) | (user ? PF_U : 0) |
    (acc == ACC_EXEC && nxe ? PF_I : 0);
  while (true) {
    const shift = <u64>(12 + 9 * (level - 1));
    entryAddr = table + (((va >> shift) & 511) << 3);
    entry = readPhys(entryAddr, 8);
    if ((entry & PTE_P) == 0) { walkError = baseErr; return WALK_FAULT; }
    const largeHere = level == 2 && (entry & PTE_PS) != 0;
    // PS in a PML4E is reserved; a 1 GiB PDPTE is reserved while PDPE1GB is not advertised.
    if ((entry & rsvd) != 0 || (level >= 3 && (entry & PTE_PS) != 0) ||
        (largeHere && (entry & 0x1f_e000) != 0)) {
      walkError = baseErr | PF_P | PF_RSVD;
      return WALK_FAULT;
    }
    writable = writable && (entry & PTE_RW) != 0;
    userOk = userOk && (entry & PTE_US) != 0;
    exec = exec && (entry & PTE_NX) == 0;
    if (commit && (entry & PTE_A) == 0) {
      entry |= PTE_A;
      writePhys(entryAddr, 8, entry);
    }
    if (level == 1 || largeHere) { if (largeHere) pageSize = 0x20_0000; break; }
    table = entry & PTE_ADDR;
    level--;
  }
  // Supervisor writes honour R/W only when CR0.WP is set (SDM Vol. 3A, 4.6.1).
  const mayWrite = writable || (!user && (cr0 & CR0_WP) == 0);
  const allowed = user && !userOk ? false
    : acc == ACC_WRITE ? mayWrite
    : acc == ACC_EXEC ? exec || !nxe
    : true;
  if (!allowed) { walkError = baseErr | PF_P; return WALK_FAULT; }
  if (commit && acc == ACC_WRITE && (entry & PTE_D) == 0) {
    entry |= PTE_D;
    writePhys(entryAddr, 8, entry);
  }
  walkWritable = mayWrite && (!user || userOk);
  walkUser = userOk;
  walkExec = exec || !nxe;
  walkDirty = (entry & PTE_D) != 0;
  walkLarge = pageSize > 4096;
  return (entry & PTE_ADDR & ~(pageSize - 1)) | (va & (pageSize - 1));
}

/** True when `va` is canonical for 48-bit linear addresses (SDM Vol. 1, 3.3.7.1). */
@inline export function canonical(va: u64): bool {
  return (<i64>(va << 16) >> 16) == <i64>va;
}

/**
 * Translates `va` for an access of kind `acc` at the current privilege, raising #GP for a
 * non-canonical address and #PF for a failed walk; fills the TLB when the page is RAM.
 */
export function translate(va: u64, acc: u32): u64 {
  if (mode == 64 && !canonical(va)) raiseGP(0);
  const user = cpl == 3;
  const pa = walk(va, acc, user, true);
  if (pa == WALK_FAULT) {
    setCr2(va);
    raise(EXC_PF, walkError);
  }
  const page = pa & PAGE_MASK;
  if (page + 4096 <= ramSize) {
    const e = entryFor(va);
    const vpage = va & PAGE_MASK;
    const tag = vpage | epoch;
    store<u64>(e, tag);
    // Writes to a page with cached code take the slow path, which invalidates the code.
    const fastWrite = walkWritable && walkDirty && !pageHasCode(page);
    store<u64>(e, fastWrite ? tag : NO_TAG, E_TAG_W);
    store<u64>(e, walkExec ? tag : NO_TAG, E_TAG_X);
    store<u64>(e, <u64>RAM_BASE + page - vpage, E_ADDEND);
    if (walkLarge) noteLargePage(va);
  }
  return pa;
}

/**
 * Translates `va` for a supervisor-mode implicit access (descriptor tables, the TSS, the IDT,
 * pushes of an interrupt frame): privilege checks as at CPL 0 whatever the CPL, faults as
 * usual, no TLB fill.
 */
function translateSys(va: u64, acc: u32): u64 {
  if (mode == 64 && !canonical(va)) raiseGP(0);
  const pa = walk(va, acc, false, true);
  if (pa == WALK_FAULT) {
    setCr2(va);
    raise(EXC_PF, walkError);
  }
  return pa;
}

/** Reads `size` bytes at `va` as a supervisor-mode implicit access. */
export function readSys(va: u64, size: u32): u64 {
  if ((va & 0xfff) + <u64>size <= 4096) return readPhys(translateSys(va, ACC_READ), size);
  let v: u64 = 0;
  for (let i: u32 = 0; i < size; i++) {
    v |= readPhys(translateSys(va + i, ACC_READ), 1) << (<u64>i << 3);
  }
  return v;
}

/** Writes `size` bytes at `va` as a supervisor-mode implicit access. */
export function writeSys(va: u64, size: u32, v: u64): void {
  if ((va & 0xfff) + <u64>size <= 4096) {
    writePhys(translateSys(va, ACC_WRITE), size, v);
    return;
  }
  const lo = translateSys(va, ACC_WRITE);
  const hi = translateSys((va | 0xfff) + 1, ACC_WRITE);
  const first: u32 = 4096 - <u32>(va & 0xfff);
  for (let i: u32 = 0; i < size; i++) {
    writePhys(i < first ? lo + <u64>i : hi + <u64>(i - first), 1, v >> (<u64>i << 3));
  }
}

/** Checks that a supervisor-mode write of `size` bytes at `va` would not fault. */
export function probeWriteSys(va: u64, size: u32): void {
  translateSys(va, ACC_WRITE);
  if ((va & 0xfff) + <u64>size > 4096) translateSys((va | 0xfff) + 1, ACC_WRITE);
}

/** Translates without side effects; returns -1 when `va` does not map. For diagnostics. */
export function probe(va: u64): u64 {
  if (mode == 64 && !canonical(va)) return WALK_FAULT;
  return walk(va, ACC_READ, false, false);
}

// --- virtual accesses ------------------------------------------------------------------------

@inline export function readV(va: u64, size: u32): u64 {
  const e = entryFor(va);
  if (load<u64>(e) == tagOf(va) && (va & 0xfff) <= 4096 - <u64>size) {
    const h = <usize>(va + load<u64>(e, E_ADDEND));
    if (size == 1) return <u64>load<u8>(h);
    if (size == 2) return <u64>load<u16>(h);
    if (size == 4) return <u64>load<u32>(h);
    return load<u64>(h);
  }
  return readSlow(va, size);
}

@inline export function writeV(va: u64, size: u32, v: u64): void {
  const e = entryFor(va);
  if (load<u64>(e, E_TAG_W) == tagOf(va) && (va & 0xfff) <= 4096 - <u64>size) {
    const h = <usize>(va + load<u64>(e, E_ADDEND));
    if (size == 1) store<u8>(h, <u8>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else if (size == 4) store<u32>(h, <u32>v);
    else store<u64>(h, v);
    return;
  }
  writeSlow(va, size, v);
}

/**
 * The host address of `[va, va + size)` when a read may take the fast path (the TLB maps the
 * page to RAM and the access stays inside it), else 0. A hit implies a canonical address.
 */
@inline export function readPtr(va: u64, size: u32): usize {
  const e = entryFor(va);
  if (load<u64>(e) == tagOf(va) && (va & 0xfff) <= 4096 - <u64>size) {
    return <usize>(va + load<u64>(e, E_ADDEND));
  }
  return 0;
}

/** As readPtr, for a write (the page is writable, dirty and holds no cached code). */
@inline export function writePtr(va: u64, size: u32): usize {
  const e = entryFor(va);
  if (load<u64>(e, E_TAG_W) == tagOf(va) && (va & 0xfff) <= 4096 - <u64>size) {
    return <usize>(va + load<u64>(e, E_ADDEND));
  }
  return 0;
}

function readSlow(va: u64, size: u32): u64 {
  if ((va & 0xfff) + <u64>size > 4096) {
    // Crossing a page: translate both pages first so a fault leaves nothing half done.
    const first: u32 = 4096 - <u32>(va & 0xfff);
    const lo = translate(va, ACC_READ);
    const hi = translate(va + first, ACC_READ);
    let v: u64 = 0;
    for (let i: u32 = 0; i < size; i++) {
      const pa = i < first ? lo + <u64>i : hi + <u64>(i - first);
      v |= readPhys(pa, 1) << (<u64>i << 3);
    }
    return v;
  }
  return readPhys(translate(va, ACC_READ), size);
}

function writeSlow(va: u64, size: u32, v: u64): void {
  if ((va & 0xfff) + <u64>size > 4096) {
    const first: u32 = 4096 - <u32>(va & 0xfff);
    const lo = translate(va, ACC_WRITE);
    const hi = translate(va + first, ACC_WRITE);
    for (let i: u32 = 0; i < size; i++) {
      const pa = i < first ? lo + <u64>i : hi + <u64>(i - first);
      writePhys(pa, 1, v >> (<u64>i << 3));
    }
    return;
  }
  writePhys(translate(va, ACC_WRITE), size, v);
}

/** Checks that `[va, va + size)` is writable without writing (for instructions that must
 *  fault before changing registers, such as PUSH). */
export function probeWrite(va: u64, size: u32): void {
  const e = entryFor(va);
  if (load<u64>(e, E_TAG_W) == tagOf(va) && (va & 0xfff) <= 4096 - <u64>size) return;
  translate(va, ACC_WRITE);
  if ((va & 0xfff) + <u64>size > 4096) translate((va | 0xfff) + 1, ACC_WRITE);
}

/** Reads one instruction byte at `va`. */
@inline export function fetch8(va: u64): u32 {
  if ((va & PAGE_MASK) == fetchPage) return <u32>load<u8>(<usize>(va + fetchAddend));
  return fetchSlow(va);
}

function fetchSlow(va: u64): u32 {
  const pa = refillFetch(va);
  if ((va & PAGE_MASK) == fetchPage) return <u32>load<u8>(<usize>(va + fetchAddend));
  return <u32>readPhys(pa, 1);
}

/**
 * Translates `va` for execution and, when it is RAM, makes its page the fetch page. Returns the
 * physical address; raises #PF or #GP as an instruction fetch would.
 */
export function refillFetch(va: u64): u64 {
  const e = entryFor(va);
  if (load<u64>(e, E_TAG_X) == tagOf(va)) {
    fetchPage = va & PAGE_MASK;
    fetchAddend = load<u64>(e, E_ADDEND);
    return va + fetchAddend - <u64>RAM_BASE;
  }
  const pa = translate(va, ACC_EXEC);
  if ((pa & PAGE_MASK) + 4096 <= ramSize) {
    fetchPage = va & PAGE_MASK;
    fetchAddend = <u64>RAM_BASE + (pa & PAGE_MASK) - fetchPage;
  }
  return pa;
}

/** Reads an instruction byte for diagnostics: -1 when `va` does not map. */
export function peekCode(va: u64): i32 {
  const pa = probe(va);
  if (pa == WALK_FAULT) return -1;
  if (pa >= ramSize) return -1;
  return <i32>load<u8>(RAM_BASE + <usize>pa);
}
