// Lazy arithmetic flags (QEMU's cc_op scheme): an instruction records its operation, operand
// size, operands and result; CF, PF, AF, ZF, SF and OF are computed only when something reads
// them. flagsStatic always holds the non-arithmetic RFLAGS bits; its arithmetic bits count only
// while lfOp == LF_NONE (and its CF while an INC/DEC record is current).

import { signBit, parity, sext, mulHiS } from './bits';

export const FL_CF: u64 = 1 << 0;
export const FL_PF: u64 = 1 << 2;
export const FL_AF: u64 = 1 << 4;
export const FL_ZF: u64 = 1 << 6;
export const FL_SF: u64 = 1 << 7;
export const FL_TF: u64 = 1 << 8;
export const FL_IF: u64 = 1 << 9;
export const FL_DF: u64 = 1 << 10;
export const FL_OF: u64 = 1 << 11;
export const FL_ARITH: u64 = FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF;
/** Bit 1 of RFLAGS always reads as 1 (SDM Vol. 1, 3.4.3). */
export const FL_FIXED: u64 = 1 << 1;
/** Every defined RFLAGS bit (0–21 without the reserved 1, 3, 5 and 15). */
export const FL_DEFINED: u64 = 0x3f_7fd5;

export const LF_NONE: u32 = 0;
export const LF_ADD: u32 = 1;
export const LF_ADC: u32 = 2;
export const LF_SUB: u32 = 3;
export const LF_SBB: u32 = 4;
export const LF_LOGIC: u32 = 5;
/** INC and DEC: like ADD/SUB of 1, but CF is kept in flagsStatic. */
export const LF_INC: u32 = 6;
export const LF_DEC: u32 = 7;
/** SHL/SHR/SAR: lfA holds CF and lfB OF, both computed by the shift; AF reads 0. */
export const LF_SHIFT: u32 = 8;
/**
 * Two- and three-operand IMUL: lfA and lfB are the sign-extended operands; CF = OF = the
 * signed product does not fit the operand size; SF, ZF, PF from the low half; AF reads 0.
 */
export const LF_IMUL: u32 = 9;

/** Whether the recorded IMUL overflowed its operand size. */
function imulOverflow(): u64 {
  if (lfSize != 8) return <u64>(sext(lfA * lfB, lfSize) != lfA * lfB);
  // Operands that fit in 32 bits cannot overflow 64; only others need the 128-bit product.
  if ((lfA + 0x8000_0000) >> 32 == 0 && (lfB + 0x8000_0000) >> 32 == 0) return 0;
  return <u64>(mulHiS(lfA, lfB) != <u64>(<i64>lfRes >> 63));
}

export let lfOp: u32 = LF_NONE;
/** Operand size in bytes of the recorded operation. */
export let lfSize: u32 = 8;
/** First operand (destination) of the recorded operation, masked to lfSize. */
export let lfA: u64 = 0;
/** Second operand (source) of the recorded operation, masked to lfSize. */
export let lfB: u64 = 0;
/** Result, masked to lfSize. */
export let lfRes: u64 = 0;
/** Carry-in of ADC/SBB. */
export let lfCin: u64 = 0;
export let flagsStatic: u64 = FL_FIXED;

/** Records an arithmetic result for lazy evaluation. */
@inline export function setLazy(op: u32, size: u32, a: u64, b: u64, res: u64): void {
  lfOp = op;
  lfSize = size;
  lfA = a;
  lfB = b;
  lfRes = res;
}

export function getCF(): u64 {
  switch (lfOp) {
    case LF_NONE: case LF_INC: case LF_DEC: return flagsStatic & 1;
    case LF_ADD: return <u64>(lfRes < lfA);
    case LF_ADC: return lfCin != 0 ? <u64>(lfRes <= lfA) : <u64>(lfRes < lfA);
    case LF_SUB: return <u64>(lfA < lfB);
    case LF_SBB: return lfCin != 0 ? <u64>(lfA <= lfB) : <u64>(lfA < lfB);
    case LF_SHIFT: return lfA;
    case LF_IMUL: return imulOverflow();
    default: return 0;
  }
}

@inline export function getZF(): u64 {
  if (lfOp == LF_NONE) return (flagsStatic >> 6) & 1;
  return <u64>(lfRes == 0);
}

export function getSF(): u64 {
  if (lfOp == LF_NONE) return (flagsStatic >> 7) & 1;
  return signBit(lfRes, lfSize);
}

export function getOF(): u64 {
  switch (lfOp) {
    case LF_NONE: return (flagsStatic >> 11) & 1;
    case LF_ADD: case LF_ADC: case LF_INC: return signBit((lfA ^ lfRes) & (lfB ^ lfRes), lfSize);
    case LF_SUB: case LF_SBB: case LF_DEC: return signBit((lfA ^ lfB) & (lfA ^ lfRes), lfSize);
    case LF_SHIFT: return lfB;
    case LF_IMUL: return imulOverflow();
    default: return 0;
  }
}

export function getPF(): u64 {
  if (lfOp == LF_NONE) return (flagsStatic >> 2) & 1;
  return parity(lfRes);
}

export function getAF(): u64 {
  if (lfOp == LF_NONE) return (flagsStatic >> 4) & 1;
  if (lfOp == LF_LOGIC || lfOp == LF_SHIFT || lfOp == LF_IMUL) return 0;
  return ((lfA ^ lfB ^ lfRes) >> 4) & 1;
}

/** The whole RFLAGS value. */
export function getFlags(): u64 {
  if (lfOp == LF_NONE) return flagsStatic | FL_FIXED;
  return (flagsStatic & ~FL_ARITH) | FL_FIXED |
    getCF() | (getPF() << 2) | (getAF() << 4) | (getZF() << 6) | (getSF() << 7) | (getOF() << 11);
}

/** Replaces RFLAGS (arithmetic bits included). */
export function setFlags(v: u64): void {
  flagsStatic = (v & FL_DEFINED) | FL_FIXED;
  lfOp = LF_NONE;
}

/** Makes the arithmetic flags concrete so that single bits can be changed. */
export function materialize(): void {
  if (lfOp != LF_NONE) {
    flagsStatic = getFlags();
    lfOp = LF_NONE;
  }
}

/** Sets or clears one RFLAGS bit, keeping the others. */
export function setFlagBit(bit: u64, on: bool): void {
  materialize();
  flagsStatic = on ? flagsStatic | bit : flagsStatic & ~bit;
}

/** INC/DEC keep CF: capture it before recording the new operation. */
export function setLazyIncDec(op: u32, size: u32, a: u64, res: u64): void {
  // Only CF of flagsStatic is read while an INC/DEC record is current.
  flagsStatic = (flagsStatic & ~FL_CF) | getCF();
  setLazy(op, size, a, 1, res);
}

/** Evaluates condition code `cc` (SDM Vol. 1, Appendix B). */
export function cond(cc: u32): bool {
  let r: bool;
  switch (cc >> 1) {
    case 0: r = getOF() != 0; break;
    case 1: r = getCF() != 0; break;
    case 2: r = getZF() != 0; break;
    case 3: r = (getCF() | getZF()) != 0; break;
    case 4: r = getSF() != 0; break;
    case 5: r = getPF() != 0; break;
    case 6: r = getSF() != getOF(); break;
    default: r = getZF() != 0 || getSF() != getOF(); break;
  }
  return (cc & 1) != 0 ? !r : r;
}

/** Sets all six arithmetic flags at once from explicit values. */
export function setArith(cf: u64, pf: u64, af: u64, zf: u64, sf: u64, ovf: u64): void {
  // The non-arithmetic bits of flagsStatic are always current, whatever lfOp says.
  flagsStatic = (flagsStatic & ~FL_ARITH) |
    cf | (pf << 2) | (af << 4) | (zf << 6) | (sf << 7) | (ovf << 11);
  lfOp = LF_NONE;
}

