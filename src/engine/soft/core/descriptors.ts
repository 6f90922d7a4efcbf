// Segment selectors and descriptors (SDM Vol. 3A, 3.4–3.5 and 5.1–5.8): reading the GDT and
// LDT, loading segment registers with their protection checks, and the 64-bit TSS stacks.
// Descriptor-table accesses are supervisor-mode implicit accesses at any CPL.

import {
  S_GDTR, S_SEGS, getSlot, setSlot, segBase, segLimit, segAttr, cpl, mode, updateMode,
  SEG_CS, SEG_SS, SEG_LDTR, SEG_TR,
} from './state';
import { readSys, writeSys, selectTlbSet } from './mmu';
import { raise, EXC_GP, EXC_NP, EXC_SS, EXC_TS } from './exceptions';

// Selector fields.
export const SEL_RPL: u32 = 3;
export const SEL_TI: u32 = 4;

// Attribute bits as kept in the state (VMX access rights, SDM Vol. 3C, 24.4.1).
export const A_WRITABLE: u64 = 2; // data; "readable" for code
export const A_CONFORMING: u64 = 4; // code
export const A_CODE: u64 = 8;
export const A_S: u64 = 1 << 4;
export const A_P: u64 = 1 << 7;
export const A_L: u64 = 1 << 13;
export const A_DB: u64 = 1 << 14;
export const A_G: u64 = 1 << 15;
export const A_UNUSABLE: u64 = 1 << 16;

/** System descriptor types (SDM Vol. 3A, Table 3-2, IA-32e mode). */
export const TYPE_LDT: u32 = 2;
export const TYPE_TSS_AVAILABLE: u32 = 9;
export const TYPE_TSS_BUSY: u32 = 11;
export const TYPE_INTERRUPT_GATE: u32 = 14;
export const TYPE_TRAP_GATE: u32 = 15;

@inline export function attrDpl(attr: u64): u32 { return <u32>(attr >> 5) & 3; }

/** The attribute bits of a raw 8-byte descriptor. */
@inline export function descAttr(d: u64): u64 {
  return ((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12);
}

/** The 32-bit base of a raw descriptor. */
@inline export function descBase(d: u64): u64 {
  return ((d >> 16) & 0xff_ffff) | ((d >> 32) & 0xff00_0000);
}

/** The byte-granular limit of a raw descriptor. */
@inline export function descLimit(d: u64): u64 {
  const l = (d & 0xffff) | ((d >> 32) & 0xf_0000);
  return (d & (<u64>1 << 55)) != 0 ? (l << 12) | 0xfff : l;
}

/**
 * Linear address of the descriptor for selector `sel`, raising `vector` with the selector's
 * error code when it lies beyond its table's limit.
 */
export function descriptorAddress(sel: u32, vector: u32): u64 {
  const index = <u64>(sel & ~<u32>7);
  let base: u64, limit: u64;
  if ((sel & SEL_TI) != 0) {
    if ((segAttr(SEG_LDTR) & A_UNUSABLE) != 0) raise(vector, sel & 0xfffc);
    base = segBase(SEG_LDTR);
    limit = segLimit(SEG_LDTR);
  } else {
    base = getSlot(S_GDTR);
    limit = getSlot(S_GDTR + 1);
  }
  if (index + 7 > limit) raise(vector, sel & 0xfffc);
  return base + index;
}

/** Reads the 8-byte descriptor of `sel` (see descriptorAddress). */
export function readDescriptor(sel: u32, vector: u32): u64 {
  return readSys(descriptorAddress(sel, vector), 8);
}

/** Sets the accessed bit of a code or data descriptor, as a segment load does. */
export function markAccessed(sel: u32, d: u64): void {
  if ((d & (<u64>1 << 40)) != 0) return;
  writeSys(descriptorAddress(sel, EXC_GP), 8, d | (<u64>1 << 40));
}

/** Writes a segment register's hidden and visible parts; a CS change recomputes the mode. */
export function setSegment(seg: u32, sel: u32, base: u64, limit: u64, attr: u64): void {
  const at = S_SEGS + seg * 4;
  setSlot(at, <u64>sel);
  setSlot(at + 1, base);
  setSlot(at + 2, limit);
  setSlot(at + 3, attr);
  if (seg == SEG_CS) {
    updateMode();
    selectTlbSet();
  }
}

/** Loads a null selector: the register becomes unusable (base 0, as Intel CPUs do). */
export function setNull(seg: u32, sel: u32): void {
  setSegment(seg, sel, 0, 0, A_UNUSABLE);
}

/** Loads a segment register from a raw descriptor already checked by the caller. */
export function loadFromDescriptor(seg: u32, sel: u32, d: u64): void {
  markAccessed(sel, d);
  setSegment(seg, sel, descBase(d), descLimit(d), descAttr(d | (<u64>1 << 40)));
}

/**
 * MOV/POP to SS, DS, ES, FS, GS and LDS…LSS: the protection checks of the SDM's MOV page.
 * (64-bit mode ignores the base and limit of DS/ES/SS, but loads them all the same.)
 */
export function loadDataSegment(seg: u32, sel: u32): void {
  const rpl = sel & SEL_RPL;
  if ((sel & 0xfffc) == 0) {
    // A null SS is allowed only in 64-bit mode below CPL 3, with RPL = CPL.
    if (seg == SEG_SS && (mode != 64 || cpl == 3 || rpl != cpl)) raise(EXC_GP, 0);
    setNull(seg, sel);
    return;
  }
  const d = readDescriptor(sel, EXC_GP);
  const attr = descAttr(d);
  const dpl = attrDpl(attr);
  const err = <u64>(sel & 0xfffc);
  if ((attr & A_S) == 0) raise(EXC_GP, err);
  if (seg == SEG_SS) {
    if (rpl != cpl || dpl != cpl || (attr & A_CODE) != 0 || (attr & A_WRITABLE) == 0) {
      raise(EXC_GP, err);
    }
    if ((attr & A_P) == 0) raise(EXC_SS, err);
  } else {
    // Data, or readable code; privilege is checked unless the code is conforming.
    if ((attr & A_CODE) != 0 && (attr & A_WRITABLE) == 0) raise(EXC_GP, err);
    const conforming = (attr & A_CODE) != 0 && (attr & A_CONFORMING) != 0;
    if (!conforming && (rpl > dpl || cpl > dpl)) raise(EXC_GP, err);
    if ((attr & A_P) == 0) raise(EXC_NP, err);
  }
  loadFromDescriptor(seg, sel, d);
}

/**
 * Checks that `sel` may become SS at privilege `newCpl` (IRET to an outer ring): a writable
 * data segment with RPL = DPL = newCpl, present. Returns the raw descriptor.
 */
export function checkStackSegment(sel: u32, newCpl: u32): u64 {
  const err = <u64>(sel & 0xfffc);
  if ((sel & SEL_RPL) != newCpl) raise(EXC_GP, err);
  const d = readDescriptor(sel, EXC_GP);
  const attr = descAttr(d);
  if ((attr & A_S) == 0 || (attr & A_CODE) != 0 || (attr & A_WRITABLE) == 0) raise(EXC_GP, err);
  if (attrDpl(attr) != newCpl) raise(EXC_GP, err);
  if ((attr & A_P) == 0) raise(EXC_SS, err);
  return d;
}

/**
 * Checks a code-segment descriptor for a far transfer that keeps or raises nothing above
 * `targetCpl` (far JMP/CALL/RET, IRET, interrupt gates); returns the raw descriptor.
 */
export function checkCodeSegment(sel: u32, targetCpl: u32, vector: u32): u64 {
  const err = <u64>(sel & 0xfffc);
  if (err == 0) raise(vector, 0);
  const d = readDescriptor(sel, vector);
  const attr = descAttr(d);
  if ((attr & A_S) == 0 || (attr & A_CODE) == 0) raise(vector, err);
  const dpl = attrDpl(attr);
  const conforming = (attr & A_CONFORMING) != 0;
  if (conforming ? dpl > targetCpl : dpl != targetCpl) raise(vector, err);
  if (mode == 64 && (attr & A_L) != 0 && (attr & A_DB) != 0) raise(vector, err);
  if ((attr & A_P) == 0) raise(EXC_NP, err);
  return d;
}

/** Loads CS from a checked descriptor with RPL = `newCpl`. */
export function loadCodeSegment(sel: u32, d: u64, newCpl: u32): void {
  markAccessed(sel, d);
  const attr = descAttr(d | (<u64>1 << 40));
  // CPL lives in CS's DPL field of the state: a conforming segment runs at the caller's CPL.
  const cplAttr = (attr & ~(<u64>3 << 5)) | (<u64>newCpl << 5);
  setSegment(SEG_CS, (sel & 0xfffc) | newCpl, descBase(d), descLimit(d), cplAttr);
}

/** The 64-bit TSS field at byte `offset` (RSPn, ISTn), #TS on a TSS too small for it. */
export function tssQword(offset: u32): u64 {
  if ((segAttr(SEG_TR) & A_UNUSABLE) != 0 || <u64>offset + 7 > segLimit(SEG_TR)) {
    raise(EXC_TS, <u64>(<u32>getSlot(S_SEGS + SEG_TR * 4) & 0xfffc));
  }
  return readSys(segBase(SEG_TR) + offset, 8);
}

/** RSPn of the 64-bit TSS (SDM Vol. 3A, Figure 8-11). */
export function tssRsp(n: u32): u64 { return tssQword(4 + n * 8); }

/** ISTn (1–7) of the 64-bit TSS. */
export function tssIst(n: u32): u64 { return tssQword(0x24 + (n - 1) * 8); }

/** Replaces the base of FS or GS (WRMSR, SWAPGS). */
export function setFsGsBase(seg: u32, base: u64): void {
  setSlot(S_SEGS + seg * 4 + 1, base);
}
