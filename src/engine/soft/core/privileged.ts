// System instructions (SDM Vol. 2 pages of the same names): MOV to and from control and debug
// registers, CLTS, WBINVD/INVD, the 0F 01 group (SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG,
// SWAPGS) and the 0F 00 group (SLDT, STR, LLDT, LTR, VERR, VERW).

import { dOsize, dReg, dRm, D_MODRM, D_OPCODE } from './decode';
import { ea, isReg, readE, writeE } from './operands';
import { readV, writeV, readSys, writeSys, flushTlb, invalidatePage, selectTlbSet } from './mmu';
import { raiseGP, raiseUD, raise, EXC_GP, EXC_NP } from './exceptions';
import {
  S_GDTR, S_IDTR, S_DR, getSlot, setSlot, reg64, setReg64, cr0, cr2, cr3, cr4, cr8, efer,
  setCr0, setCr2, setCr3, setCr4, setCr8, setEfer, cpl, mode, segSelector,
  updateMode, CR0_PE, CR0_PG, CR4_PAE, EFER_LME, EFER_LMA, SEG_LDTR, SEG_TR,
} from './state';
import { swapgs } from './msr';
import {
  descriptorAddress, descAttr, descBase, descLimit, attrDpl, setSegment, setNull, SEL_TI,
  A_S, A_CODE, A_WRITABLE, A_CONFORMING, A_P, TYPE_LDT, TYPE_TSS_AVAILABLE, TYPE_TSS_BUSY,
} from './descriptors';
import { setFlagBit, FL_ZF } from './flags';

const CR0_TS: u64 = 1 << 3;
const CR0_ET: u64 = 1 << 4;
const CR0_NW: u64 = 1 << 29;
const CR0_CD: u64 = 1 << 30;
/** CR0 bits with a meaning (SDM Vol. 3A, 2.5): PE MP EM TS ET NE WP AM NW CD PG. */
const CR0_DEFINED: u64 = 0xe005_003f;
/** CR4 bits of the features CPUID advertises: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR
 *  OSXMMEXCPT. The rest are reserved on this CPU. */
const CR4_ALLOWED: u64 = 0x7ff;
const CR4_PSE: u64 = 1 << 4;
const CR4_PGE: u64 = 1 << 7;
const CR4_DE: u64 = 1 << 3;
/** CR3 bits above MAXPHYADDR (40) are reserved. */
const CR3_RESERVED: u64 = 0xffff_ff00_0000_0000;

@inline function needCpl0(): void {
  if (cpl != 0) raiseGP(0);
}

/** The control register ModRM.reg names (with REX.R), or #UD for one that does not exist. */
function crNumber(d: usize): u32 {
  const n = dReg(d);
  if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) raiseUD();
  return n;
}

/** 0F 20: MOV r, CRn. The r/m field is always a register. */
export function movFromCr(d: usize): void {
  const n = crNumber(d);
  needCpl0();
  const v = n == 0 ? cr0 : n == 2 ? cr2 : n == 3 ? cr3 : n == 4 ? cr4 : cr8;
  setReg64(dRm(d) & 15, mode == 64 ? v : v & 0xffff_ffff);
}

/** 0F 22: MOV CRn, r. */
export function movToCr(d: usize): void {
  const n = crNumber(d);
  needCpl0();
  let v = reg64(dRm(d) & 15);
  if (mode != 64) v &= 0xffff_ffff;
  if (n == 0) writeCr0(v);
  else if (n == 2) setCr2(v);
  else if (n == 3) {
    if (mode == 64 && (v & CR3_RESERVED) != 0) raiseGP(0);
    setCr3(v);
    flushTlb();
  } else if (n == 4) writeCr4(v);
  else {
    if ((v & ~<u64>15) != 0) raiseGP(0);
    setCr8(v);
  }
}

/** CR0 (SDM Vol. 3A, 2.5 and 9.8.5: entering and leaving IA-32e mode). */
export function writeCr0(v: u64): void {
  if ((v >> 32) != 0) raiseGP(0);
  if ((v & CR0_PG) != 0 && (v & CR0_PE) == 0) raiseGP(0);
  if ((v & CR0_NW) != 0 && (v & CR0_CD) == 0) raiseGP(0);
  const next = (v & CR0_DEFINED) | CR0_ET;
  const enablingPaging = (cr0 & CR0_PG) == 0 && (next & CR0_PG) != 0;
  const disablingPaging = (cr0 & CR0_PG) != 0 && (next & CR0_PG) == 0;
  if (enablingPaging && (efer & EFER_LME) != 0 && (cr4 & CR4_PAE) == 0) raiseGP(0);
  if (disablingPaging && mode == 64) raiseGP(0);
  const changed = cr0 ^ next;
  setCr0(next);
  if (enablingPaging && (efer & EFER_LME) != 0) setEfer(efer | EFER_LMA);
  if (disablingPaging) setEfer(efer & ~EFER_LMA);
  if ((changed & (CR0_PG | CR0_PE | (<u64>1 << 16))) != 0) flushTlb();
  updateMode();
  selectTlbSet();
}

function writeCr4(v: u64): void {
  if ((v & ~CR4_ALLOWED) != 0) raiseGP(0);
  if ((efer & EFER_LMA) != 0 && (v & CR4_PAE) == 0) raiseGP(0);
  const changed = cr4 ^ v;
  setCr4(v);
  if ((changed & (CR4_PAE | CR4_PGE | CR4_PSE)) != 0) flushTlb();
}

/** 0F 21 / 0F 23: MOV to and from DR0–DR7 (stored; no breakpoints fire). */
export function movDr(d: usize): void {
  let n = dReg(d);
  if (n > 7) raiseUD();
  if (n == 4 || n == 5) {
    if ((cr4 & CR4_DE) != 0) raiseUD();
    n += 2;
  }
  needCpl0();
  const r = dRm(d) & 15;
  if (<u32>load<u16>(d, D_OPCODE) == 0x121) {
    let v = getSlot(S_DR + n);
    if (n == 6) v |= 0xffff_0ff0;
    if (n == 7) v |= 0x400;
    setReg64(r, v);
  } else {
    const v = reg64(r);
    if ((n == 6 || n == 7) && (v >> 32) != 0) raiseGP(0);
    setSlot(S_DR + n, v);
  }
}

/** 0F 06: CLTS. */
export function clts(d: usize): void {
  needCpl0();
  setCr0(cr0 & ~CR0_TS);
}

/** 0F 08 INVD, 0F 09 WBINVD: caches are not modelled. */
export function wbinvd(d: usize): void {
  needCpl0();
}

// --- 0F 01 -----------------------------------------------------------------------------------

/** Reads the limit and base of a pseudo-descriptor (LGDT/LIDT) into slots `at`, `at + 1`. */
function loadTableRegister(d: usize, at: u32): void {
  needCpl0();
  const va = ea(d);
  const limit = readV(va, 2);
  let base = mode == 64 ? readV(va + 2, 8) : readV(va + 2, 4);
  if (mode != 64 && dOsize(d) == 2) base &= 0xff_ffff;
  setSlot(at, base);
  setSlot(at + 1, limit);
}

function storeTableRegister(d: usize, at: u32): void {
  const va = ea(d);
  const base = getSlot(at);
  if (mode == 64) {
    writeV(va, 2, getSlot(at + 1));
    writeV(va + 2, 8, base);
  } else {
    writeV(va, 2, getSlot(at + 1));
    writeV(va + 2, 4, base & 0xffff_ffff);
  }
}

/** 0F 01 /0–/7 (SDM Table A-6): the register forms other than SMSW, LMSW and SWAPGS are
 *  instructions of features this CPU does not have (VMX, SVM, MONITOR, XGETBV, RDTSCP). */
export function group7(d: usize): void {
  const op = dReg(d) & 7;
  const reg = isReg(d);
  const rm = <u32>load<u8>(d, D_MODRM) & 7;
  switch (op) {
    case 0: if (reg) raiseUD(); storeTableRegister(d, S_GDTR); break;
    case 1: if (reg) raiseUD(); storeTableRegister(d, S_IDTR); break;
    case 2: if (reg) raiseUD(); loadTableRegister(d, S_GDTR); break;
    case 3: if (reg) raiseUD(); loadTableRegister(d, S_IDTR); break;
    case 4: writeE(d, reg ? dOsize(d) : 2, cr0 & (reg ? 0xffff_ffff : 0xffff)); break;
    case 6: {
      needCpl0();
      // LMSW loads PE, MP, EM and TS; it cannot clear PE.
      const v = readE(d, 2) & 0xf;
      writeCr0((cr0 & ~<u64>0xe) | v | (cr0 & CR0_PE));
      break;
    }
    case 7:
      if (reg) {
        if (rm == 0) swapgs();
        else raiseUD();
      } else {
        needCpl0();
        invalidatePage(ea(d));
      }
      break;
    default: raiseUD();
  }
}

// --- 0F 00 -----------------------------------------------------------------------------------

/** A system descriptor of the GDT (16 bytes in IA-32e mode) for LLDT/LTR. */
function systemDescriptor(sel: u32, type: u32): u64 {
  const err = <u64>(sel & 0xfffc);
  if ((sel & SEL_TI) != 0) raise(EXC_GP, err);
  const at = descriptorAddress(sel, EXC_GP);
  const d = readSys(at, 8);
  const attr = descAttr(d);
  if ((attr & A_S) != 0 || <u32>(attr & 0xf) != type) raise(EXC_GP, err);
  if ((attr & A_P) == 0) raise(EXC_NP, err);
  return d;
}

/** The upper half of a 16-byte system descriptor (bits 63:32 of its base). */
function systemDescriptorHigh(sel: u32): u64 {
  if ((efer & EFER_LMA) == 0) return 0;
  const at = descriptorAddress(sel + 8, EXC_GP);
  return (readSys(at, 8) & 0xffff_ffff) << 32;
}

export function group6(d: usize): void {
  const op = dReg(d) & 7;
  switch (op) {
    case 0: writeE(d, isReg(d) ? dOsize(d) : 2, <u64>segSelector(SEG_LDTR)); break;
    case 1: writeE(d, isReg(d) ? dOsize(d) : 2, <u64>segSelector(SEG_TR)); break;
    case 2: {
      needCpl0();
      const sel = <u32>readE(d, 2);
      if ((sel & 0xfffc) == 0) { setNull(SEG_LDTR, sel); break; }
      const desc = systemDescriptor(sel, TYPE_LDT);
      const base = descBase(desc) | systemDescriptorHigh(sel);
      setSegment(SEG_LDTR, sel, base, descLimit(desc), descAttr(desc));
      break;
    }
    case 3: {
      needCpl0();
      const sel = <u32>readE(d, 2);
      if ((sel & 0xfffc) == 0) raiseGP(0);
      const desc = systemDescriptor(sel, TYPE_TSS_AVAILABLE);
      const base = descBase(desc) | systemDescriptorHigh(sel);
      // LTR marks the TSS busy in its descriptor.
      const busy = (desc & ~(<u64>0xf << 40)) | (<u64>TYPE_TSS_BUSY << 40);
      writeSys(descriptorAddress(sel, EXC_GP), 8, busy);
      setSegment(SEG_TR, sel, base, descLimit(desc), descAttr(busy));
      break;
    }
    case 4:
    case 5:
      setFlagBit(FL_ZF, accessible(<u32>readE(d, 2), op == 5));
      break;
    default: raiseUD();
  }
}

/** VERR/VERW: whether the segment is readable (writable) at the current privilege. */
function accessible(sel: u32, write: bool): bool {
  if ((sel & 0xfffc) == 0) return false;
  const index = <u64>(sel & ~<u32>7);
  const limit = (sel & SEL_TI) != 0 ? 0 : getSlot(S_GDTR + 1);
  if ((sel & SEL_TI) != 0 || index + 7 > limit) return false;
  const attr = descAttr(readSys(getSlot(S_GDTR) + index, 8));
  if ((attr & A_S) == 0) return false;
  const code = (attr & A_CODE) != 0;
  if (!(code && (attr & A_CONFORMING) != 0)) {
    const dpl = attrDpl(attr);
    if (dpl < cpl || dpl < (sel & 3)) return false;
  }
  if (write) return !code && (attr & A_WRITABLE) != 0;
  return !code || (attr & A_WRITABLE) != 0;
}

