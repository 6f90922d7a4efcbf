// The SSE/SSE2 floating-point operations ADD, SUB, MUL, DIV and SQRT on binary32 and binary64
// lanes (fp.ts describes the model). The fast path: rounding to nearest with normal operands and
// a result whose exponent field is at least 2 (clear of tininess, which x86 detects after
// rounding) and not all ones; there the wasm result is the x86 result, and PE is decided by an
// exact check unless it is already set and masked. The exact path: NaNs, infinities, zeros,
// DAZ and the denormal flag, then an exact (or sticky) integer result rounded by roundPack.

import {
  preFlag, postFlag, fpRc, fpPeKnown, isNaN, isSNaN, quiet, isInf, isZero, signOf, signBit,
  infinity, defaultNaN, source, sawDenormal, clearDenormal, unpack, uExp, uSig, roundPack,
  shiftRightJam, MX_IE, MX_DE, MX_ZE, MX_PE, RC_NEAREST, RC_DOWN, OP_ADD, OP_SUB, OP_MUL, OP_DIV,
} from './fp';

/**
 * The product of two significands with bit 62 set, in [2^124, 2^126), shifted right by 62:
 * bits 125..62 of the 128-bit product, the bits below sticky in bit 0.
 */
function mulSig(a: u64, b: u64): u64 {
  const a0 = a & 0xffff_ffff, a1 = a >> 32, b0 = b & 0xffff_ffff, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xffff_ffff) + (p10 & 0xffff_ffff);
  const lo = (mid << 32) | (p00 & 0xffff_ffff);
  const hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return (hi << 2) | (lo >> 62) | <u64>((lo << 2) != 0);
}

/**
 * a op b for finite non-zero or zero operands (after NaN, infinity and DAZ handling), exactly
 * rounded. Zero operands of ADD/SUB are handled here too.
 */
function finiteArith(op: u32, a: u64, b: u64, f: u32): u64 {
  let sa = signOf(a, f), sb = signOf(b, f);
  if (op == OP_SUB) sb ^= 1;
  const za = isZero(a, f), zb = isZero(b, f);
  if (op <= OP_SUB) {
    if (za && zb) {
      // x + (−x) is +0, or −0 when rounding down; equal signs keep theirs.
      const s: u32 = sa == sb ? sa : <u32>(fpRc() == RC_DOWN);
      return <u64>s << (f != 0 ? 63 : 31);
    }
    if (zb) { unpack(a, f); return roundPack(sa, uExp(), uSig(), f); }
    if (za) { unpack(b, f); return roundPack(sb, uExp(), uSig(), f); }
    unpack(a, f);
    let ea = uExp(), ma = uSig();
    unpack(b, f);
    let eb = uExp(), mb = uSig();
    if (ea < eb || (ea == eb && ma < mb)) {
      let t = ea; ea = eb; eb = t;
      const tm = ma; ma = mb; mb = tm;
      const ts = sa; sa = sb; sb = ts;
    }
    mb = shiftRightJam(mb, ea - eb);
    if (sa == sb) return roundPack(sa, ea, ma + mb, f);
    const diff = ma - mb;
    if (diff == 0) return <u64>(fpRc() == RC_DOWN ? 1 : 0) << (f != 0 ? 63 : 31);
    return roundPack(sa, ea, diff, f);
  }
  const s = sa ^ sb;
  if (za || zb) return <u64>s << (f != 0 ? 63 : 31); // 0 × x, 0 / x
  unpack(a, f);
  const ea = uExp(), ma = uSig();
  unpack(b, f);
  const eb = uExp(), mb = uSig();
  if (op == OP_MUL) {
    return roundPack(s, ea + eb, mulSig(ma, mb), f);
  }
  // Division, one quotient bit per step: q = floor(ma × 2^62 / mb), in (2^61, 2^63).
  let rem = ma, q: u64 = 0;
  for (let i = 0; i < 63; i++) {
    q <<= 1;
    if (rem >= mb) { rem -= mb; q |= 1; }
    rem <<= 1;
  }
  return roundPack(s, ea - eb, q | <u64>(rem != 0), f);
}

/**
 * a op b (ADD, SUB, MUL, DIV) on the exact path: NaN propagation (the first source's NaN,
 * quieted, else the second's), invalid operations (default NaN), division by zero, DAZ and the
 * denormal flag, then the exact result rounded.
 */
export function arithSlow(op: u32, a: u64, b: u64, f: u32): u64 {
  if (isNaN(a, f) || isNaN(b, f)) {
    if (isSNaN(a, f) || isSNaN(b, f)) preFlag(MX_IE);
    return quiet(isNaN(a, f) ? a : b, f);
  }
  clearDenormal();
  a = source(a, f);
  b = source(b, f);
  const ia = isInf(a, f), ib = isInf(b, f);
  const za = isZero(a, f), zb = isZero(b, f);
  const s = signOf(a, f) ^ signOf(b, f) ^ <u32>(op == OP_SUB);
  const signed = <u64>s << (f != 0 ? 63 : 31);
  if (ia || ib) {
    let invalid = false;
    let r: u64 = 0;
    if (op <= OP_SUB) {
      invalid = ia && ib && s != 0;
      r = ia ? a : b ^ (op == OP_SUB ? signBit(f) : 0);
    } else if (op == OP_MUL) {
      invalid = za || zb;
      r = signed | infinity(f);
    } else {
      invalid = ia && ib;
      r = ia ? signed | infinity(f) : signed;
    }
    if (invalid) {
      preFlag(MX_IE);
      return defaultNaN(f);
    }
    if (sawDenormal()) preFlag(MX_DE);
    return r;
  }
  if (op == OP_DIV && zb) {
    if (za) {
      preFlag(MX_IE);
      return defaultNaN(f);
    }
    preFlag(MX_ZE);
    return signed | infinity(f);
  }
  if (sawDenormal()) preFlag(MX_DE);
  return finiteArith(op, a, b, f);
}

/** √a on the exact path (SQRTPS … SQRTSD). */
export function sqrtSlow(a: u64, f: u32): u64 {
  if (isNaN(a, f)) {
    if (isSNaN(a, f)) preFlag(MX_IE);
    return quiet(a, f);
  }
  clearDenormal();
  a = source(a, f);
  if (isZero(a, f)) return a;
  if (signOf(a, f) != 0) {
    preFlag(MX_IE);
    return defaultNaN(f);
  }
  if (isInf(a, f)) return a;
  if (sawDenormal()) preFlag(MX_DE);
  unpack(a, f);
  // a = sig × 2^e: the root of N = sig × 2^k, k making e − k even, digit by digit. N has 113 or
  // 114 bits, so the root has 57 (bit 56 set) and the remainder stays within 59 bits.
  const sig = uSig(), e = uExp() - 62;
  const k = (e & 1) != 0 ? 51 : 50;
  const hi = sig >> <u64>(64 - k), lo = sig << <u64>k;
  let root: u64 = 0, rem: u64 = 0;
  for (let i = 56; i >= 0; i--) {
    const at = <u64>(i << 1);
    const two = at >= 64 ? (hi >> (at - 64)) & 3 : (lo >> at) & 3;
    rem = (rem << 2) | two;
    const trial = (root << 2) | 1;
    root <<= 1;
    if (rem >= trial) { rem -= trial; root |= 1; }
  }
  return roundPack(0, ((e - k) >> 1) + 56, (root << 6) | <u64>(rem != 0), f);
}

// --- the fast path -------------------------------------------------------------------------

/** The odd part of a normal binary64 value's significand (trailing zeros removed). */
@inline function oddPart(x: u64): u64 {
  const m = (x & 0xf_ffff_ffff_ffff) | 0x10_0000_0000_0000;
  return m >> ctz<u64>(m);
}

@inline function bitLength(x: u64): u32 { return 64 - <u32>clz<u64>(x); }

/** True when the binary64 `r`, the rounded a op b, is exact (all three normal). */
function exact64(op: u32, x: f64, y: f64, r: f64): bool {
  if (op <= OP_SUB) {
    const b = op == OP_SUB ? -y : y;
    const bb = r - x;
    return (x - (r - bb)) + (b - bb) == 0;
  }
  // A product of m-bit and n-bit numbers has m + n − 1 or m + n bits.
  const ob = oddPart(reinterpret<u64>(y));
  if (op == OP_MUL) {
    const oa = oddPart(reinterpret<u64>(x));
    if (bitLength(oa) + bitLength(ob) > 54) return false;
    return (oa * ob) >> 53 == 0;
  }
  // r × y == x ⟺ the odd parts agree (r is within an ulp of x / y).
  const oq = oddPart(reinterpret<u64>(r));
  if (bitLength(oq) + bitLength(ob) > 54) return false;
  return oq * ob == oddPart(reinterpret<u64>(x));
}

/** True when binary32 `r`, the rounded a op b, is exact; binary64 holds the exact values. */
function exact32(op: u32, x: f32, y: f32, r: f32): bool {
  const a = <f64>x, b = op == OP_SUB ? -<f64>y : <f64>y, q = <f64>r;
  if (op <= OP_SUB) {
    const s = a + b;
    const bb = s - a;
    return s == q && (a - (s - bb)) + (b - bb) == 0;
  }
  if (op == OP_MUL) return a * b == q;
  return q * b == a;
}

/** Binary32 a op b (ADD, SUB, MUL, DIV) as SSE computes it. */
export function arith32(op: u32, a: u32, b: u32): u32 {
  const ea = (a >> 23) & 0xff, eb = (b >> 23) & 0xff;
  if (fpRc() == RC_NEAREST && ea - 1 < 0xfe && eb - 1 < 0xfe) {
    const x = reinterpret<f32>(a), y = reinterpret<f32>(b);
    const r = op == OP_ADD ? x + y : op == OP_SUB ? x - y : op == OP_MUL ? x * y : x / y;
    const rb = reinterpret<u32>(r);
    if (((rb >> 23) & 0xff) - 2 < 0xfd) {
      if (!fpPeKnown() && !exact32(op, x, y, r)) postFlag(MX_PE);
      return rb;
    }
  }
  return <u32>arithSlow(op, a, b, 0);
}

/** Binary64 a op b (ADD, SUB, MUL, DIV) as SSE2 computes it. */
export function arith64(op: u32, a: u64, b: u64): u64 {
  const ea = <u32>(a >> 52) & 0x7ff, eb = <u32>(b >> 52) & 0x7ff;
  if (fpRc() == RC_NEAREST && ea - 1 < 0x7fe && eb - 1 < 0x7fe) {
    const x = reinterpret<f64>(a), y = reinterpret<f64>(b);
    const r = op == OP_ADD ? x + y : op == OP_SUB ? x - y : op == OP_MUL ? x * y : x / y;
    const rb = reinterpret<u64>(r);
    if ((<u32>(rb >> 52) & 0x7ff) - 2 < 0x7fd) {
      if (!fpPeKnown() && !exact64(op, x, y, r)) postFlag(MX_PE);
      return rb;
    }
  }
  return arithSlow(op, a, b, 1);
}

/** Binary32 √a. */
export function sqrt32(a: u32): u32 {
  if (fpRc() == RC_NEAREST && a - 0x0080_0000 < 0x7f00_0000) {
    const r = Mathf.sqrt(reinterpret<f32>(a));
    if (!fpPeKnown() && <f64>r * <f64>r != <f64>reinterpret<f32>(a)) postFlag(MX_PE);
    return reinterpret<u32>(r);
  }
  return <u32>sqrtSlow(a, 0);
}

/** Binary64 √a. */
export function sqrt64(a: u64): u64 {
  if (fpRc() == RC_NEAREST && a - 0x0010_0000_0000_0000 < 0x7fe0_0000_0000_0000) {
    const r = Math.sqrt(reinterpret<f64>(a));
    if (!fpPeKnown()) {
      const oq = oddPart(reinterpret<u64>(r));
      if (bitLength(oq) > 27 || oq * oq != oddPart(a)) postFlag(MX_PE);
    }
    return reinterpret<u64>(r);
  }
  return sqrtSlow(a, 1);
}
