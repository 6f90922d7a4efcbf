// Multiplication and division (SDM Vol. 2: MUL, IMUL, DIV, IDIV), including the 128-bit
// products and dividends of the 64-bit forms.

import { dOsize, dImm } from './decode';
import { readE, readG, writeG, getReg, putReg } from './operands';
import { setArith, setLazy, LF_IMUL } from './flags';
import { sizeMask, signBit, parity, sext, mulHiU, mulHiS } from './bits';
import { raise, EXC_DE, NO_ERROR_CODE } from './exceptions';
import { RAX, RDX, reg64, setReg64 } from './state';

/** Flags after a multiply: CF = OF = `overflow`; SF, ZF, PF from the low half (undefined). */
function mulFlags(lo: u64, size: u32, overflow: bool): void {
  const o: u64 = overflow ? 1 : 0;
  const m = lo & sizeMask(size);
  setArith(o, parity(m), 0, <u64>(m == 0), signBit(m, size), o);
}

/** F6/F7 /4: unsigned AX ← AL * r/m8, DX:AX ← AX * r/m16, … */
export function mulE(d: usize): void {
  const size = dOsize(d);
  const b = readE(d, size);
  const a = getReg(d, RAX, size);
  if (size == 8) {
    const lo = a * b, hi = mulHiU(a, b);
    setReg64(RAX, lo); setReg64(RDX, hi);
    mulFlags(lo, 8, hi != 0);
    return;
  }
  const p = a * b;
  if (size == 1) putReg(d, RAX, 2, p);
  else { putReg(d, RAX, size, p); putReg(d, RDX, size, p >> (<u64>size * 8)); }
  mulFlags(p, size, (p >> (<u64>size * 8)) != 0);
}

/** F6/F7 /5: signed one-operand multiply. */
export function imulE(d: usize): void {
  const size = dOsize(d);
  const b = sext(readE(d, size), size);
  const a = sext(getReg(d, RAX, size), size);
  if (size == 8) {
    const lo = a * b, hi = mulHiS(a, b);
    setReg64(RAX, lo); setReg64(RDX, hi);
    mulFlags(lo, 8, hi != <u64>(<i64>lo >> 63));
    return;
  }
  const p = a * b;
  if (size == 1) putReg(d, RAX, 2, p);
  else { putReg(d, RAX, size, p); putReg(d, RDX, size, p >> (<u64>size * 8)); }
  mulFlags(p, size, sext(p, size) != p);
}

/** IMUL r, r/m (and imm): the low half; CF/OF (overflow) are computed only if read. */
function imul2(d: usize, a: u64, b: u64): void {
  const size = dOsize(d);
  const sa = sext(a, size), sb = sext(b, size);
  const lo = sa * sb;
  writeG(d, size, lo & sizeMask(size));
  setLazy(LF_IMUL, size, sa, sb, lo & sizeMask(size));
}

/** 0F AF: IMUL Gv, Ev. */
export function imulGE(d: usize): void {
  const size = dOsize(d);
  imul2(d, readG(d, size), readE(d, size));
}

/** 69/6B: IMUL Gv, Ev, imm. */
export function imulGEI(d: usize): void {
  imul2(d, readE(d, dOsize(d)), dImm(d));
}

function divideError(): void { raise(EXC_DE, NO_ERROR_CODE); }

/** Unsigned 128/64 division; returns the quotient, remainder in `divRem`. #DE on overflow. */
let divRem: u64 = 0;
function divU128(hi: u64, lo: u64, den: u64): u64 {
  if (den == 0 || hi >= den) divideError();
  if (hi == 0) { divRem = lo % den; return lo / den; }
  // Restoring long division, one bit at a time: the quotient fits in 64 bits (checked above).
  let rem = hi, q: u64 = 0;
  for (let i = 63; i >= 0; i--) {
    const carry = rem >> 63;
    rem = (rem << 1) | ((lo >> <u64>i) & 1);
    q <<= 1;
    if (carry != 0 || rem >= den) { rem -= den; q |= 1; }
  }
  divRem = rem;
  return q;
}

/** F6/F7 /6. */
export function divE(d: usize): void {
  const size = dOsize(d);
  const den = readE(d, size);
  if (den == 0) divideError();
  if (size == 8) {
    const q = divU128(reg64(RDX), reg64(RAX), den);
    setReg64(RAX, q); setReg64(RDX, divRem);
    return;
  }
  const bits = <u64>size * 8;
  const num = size == 1 ? getReg(d, RAX, 2) : (getReg(d, RDX, size) << bits) | getReg(d, RAX, size);
  const q = num / den, r = num % den;
  if (q > sizeMask(size)) divideError();
  if (size == 1) putReg(d, RAX, 2, (r << 8) | q);
  else { putReg(d, RAX, size, q); putReg(d, RDX, size, r); }
}

/** F6/F7 /7. */
export function idivE(d: usize): void {
  const size = dOsize(d);
  const den = sext(readE(d, size), size);
  if (den == 0) divideError();
  if (size == 8) {
    const hi = reg64(RDX), lo = reg64(RAX);
    const negN = <i64>hi < 0, negD = <i64>den < 0;
    // |numerator| as a 128-bit value.
    let nh = hi, nl = lo;
    if (negN) { nl = ~lo + 1; nh = ~hi + <u64>(nl == 0 ? 1 : 0); }
    const ad = negD ? 0 - den : den;
    const q = divU128(nh, nl, ad);
    const r = divRem;
    const neg = negN != negD;
    if (neg ? q > <u64>0x8000_0000_0000_0000 : q > <u64>0x7fff_ffff_ffff_ffff) divideError();
    setReg64(RAX, neg ? 0 - q : q);
    setReg64(RDX, negN ? 0 - r : r);
    return;
  }
  const bits = <u64>size * 8;
  const num = size == 1
    ? sext(getReg(d, RAX, 2), 2)
    : sext((getReg(d, RDX, size) << bits) | getReg(d, RAX, size), size * 2);
  const q = <i64>num / <i64>den, r = <i64>num % <i64>den;
  const lim = <i64>1 << (bits - 1);
  if (q >= lim || q < -lim) divideError();
  const m = sizeMask(size);
  if (size == 1) putReg(d, RAX, 2, ((<u64>r & m) << 8) | (<u64>q & m));
  else { putReg(d, RAX, size, <u64>q & m); putReg(d, RDX, size, <u64>r & m); }
}
