// SSE/SSE2 conversions (SDM Vol. 2, CVTDQ2PD … CVTTSS2SI) and the reciprocal approximations
// RCPPS/RCPSS/RSQRTPS/RSQRTSS. Conversions round by MXCSR.RC (the CVTT forms truncate) and
// report through fp.ts: PE when inexact; IE and the integer indefinite (0x80000000 or
// 0x8000000000000000) for a NaN, an infinity or a value out of range; IE for an SNaN and DE for
// a denormal between float formats, and OE/UE/FTZ when narrowing. The float-to-integer forms
// honour DAZ but never report DE. The MMX-register forms (CVTPI2PS, CVTPS2PI, …) are absent:
// CPUID does not advertise MMX, so they raise #UD.

import { dReg } from './decode';
import { readE } from './operands';
import { setRegN } from './state';
import { sseCheck, xmmG, readW, readW32, readW64, rexW } from './sse';
import {
  fpBegin, fpCommit, preFlag, postFlag, fpRc, fpDaz, roundPack, unpack, uExp, uSig, isNaN,
  isSNaN, isInf, isZero, isDenormal, source, sawDenormal, clearDenormal, signOf, infinity,
  quietBit, fracMask, MX_IE, MX_DE, MX_PE, RC_NEAREST, RC_UP, RC_DOWN, RC_ZERO,
} from './fp';

const SRC: usize = memory.data(16, 16);
const RES: usize = memory.data(16, 16);

// --- the conversions, lane by lane ------------------------------------------------------------

/** The signed `size`-byte integer `v` in format `f` (0 single, 1 double), rounded by RC. */
function fromInt(v: u64, size: u32, f: u32): u64 {
  const n: i64 = size == 8 ? <i64>v : <i64>(<i32>(<u32>v));
  if (n == 0) return 0;
  const neg: u32 = n < 0 ? 1 : 0;
  return roundPack(neg, 62, neg != 0 ? <u64>(-n) : <u64>n, f);
}

/**
 * `x` (format `f`) as a signed `size`-byte integer, rounded by RC or truncated. NaNs,
 * infinities and values whose rounded result does not fit give IE and the integer indefinite.
 */
function toInt(x: u64, f: u32, size: u32, truncate: bool): u64 {
  const indefinite: u64 = size == 8 ? <u64>1 << 63 : 0x8000_0000;
  if (isNaN(x, f) || isInf(x, f)) {
    preFlag(MX_IE);
    return indefinite;
  }
  if (isZero(x, f) || (fpDaz() && isDenormal(x, f))) return 0;
  const sign = signOf(x, f);
  unpack(x, f);
  // |x| = uSig() × 2^(uExp() − 62): its integer part and its fraction, left-aligned in `frac`.
  if (uExp() > 62) {
    // −2^63 fits a 64-bit integer, and is the indefinite's bit pattern.
    if (size == 8 && sign != 0 && uExp() == 63 && uSig() == <u64>1 << 62) return indefinite;
    preFlag(MX_IE);
    return indefinite;
  }
  const shift = <u64>(62 - uExp());
  let whole: u64 = 0, frac: u64 = 0;
  if (shift == 0) whole = uSig();
  else if (shift < 64) {
    whole = uSig() >> shift;
    frac = uSig() << (64 - shift);
  } else if (shift == 64) frac = uSig();
  else frac = 1; // far below one half, and not zero
  const rc = truncate ? RC_ZERO : fpRc();
  const half: u64 = <u64>1 << 63;
  let up = false;
  if (frac != 0) {
    if (rc == RC_NEAREST) up = frac > half || (frac == half && (whole & 1) != 0);
    else if (rc == RC_UP) up = sign == 0;
    else if (rc == RC_DOWN) up = sign != 0;
  }
  const mag = whole + <u64>up;
  const limit: u64 = size == 8 ? <u64>1 << 63 : 0x8000_0000;
  if (mag > limit || (mag == limit && sign == 0)) {
    preFlag(MX_IE);
    return indefinite;
  }
  if (frac != 0) postFlag(MX_PE);
  const r = sign != 0 ? 0 - mag : mag;
  return size == 8 ? r : r & 0xffff_ffff;
}

/**
 * `x` from format `from` to format `to`: NaNs keep their sign and the top of their payload and
 * are quieted (IE for an SNaN); widening is exact; narrowing rounds, and may overflow or
 * underflow.
 */
function convertFloat(x: u64, from: u32, to: u32): u64 {
  const sign = signOf(x, from);
  const signed = <u64>sign << (to != 0 ? 63 : 31);
  if (isNaN(x, from)) {
    if (isSNaN(x, from)) preFlag(MX_IE);
    const payload = to != 0 ? (x & fracMask(0)) << 29 : (x & fracMask(1)) >> 29;
    return signed | infinity(to) | quietBit(to) | payload;
  }
  clearDenormal();
  x = source(x, from);
  if (isZero(x, from)) return signed;
  if (isInf(x, from)) return signed | infinity(to);
  if (sawDenormal()) preFlag(MX_DE);
  unpack(x, from);
  return roundPack(sign, uExp(), uSig(), to);
}

/**
 * RCPPS/RCPSS: 1/x. The SDM bounds the error (|relative error| ≤ 1.5 × 2^−12) and leaves the
 * bits to the implementation, which differ between CPUs (and from Intel's to AMD's); the
 * engine computes 1/x in binary64 and rounds it to binary32, within an ulp of the exact value
 * and so well within the bound. Zeros and denormals give infinities of their sign, infinities
 * zeros, NaNs themselves quieted; a tiny result is flushed to zero. MXCSR plays no part.
 */
function rcp(x: u32): u32 {
  const sign = x & 0x8000_0000;
  const e = (x >> 23) & 0xff;
  if (e == 0xff) return (x & 0x7f_ffff) != 0 ? x | 0x40_0000 : sign;
  if (e == 0) return sign | 0x7f80_0000;
  const r = reinterpret<u32>(<f32>(1.0 / <f64>reinterpret<f32>(x)));
  return (r & 0x7f80_0000) == 0 ? sign : r;
}

/**
 * RSQRTPS/RSQRTSS: 1/√x through binary64 as RCPPS. Zeros and denormals give infinities of
 * their sign, other negative values the QNaN indefinite, +∞ gives +0.
 */
function rsqrt(x: u32): u32 {
  const sign = x & 0x8000_0000;
  const e = (x >> 23) & 0xff;
  if (e == 0xff && (x & 0x7f_ffff) != 0) return x | 0x40_0000;
  if (e == 0) return sign | 0x7f80_0000;
  if (sign != 0) return 0xffc0_0000;
  if (e == 0xff) return 0;
  return reinterpret<u32>(<f32>(1.0 / Math.sqrt(<f64>reinterpret<f32>(x))));
}

// --- the forms --------------------------------------------------------------------------

// What convert() does: the lane operation, the source, the destination and the lane count.
export const I2S: u32 = 0; // integer to single
export const I2D: u32 = 1; // integer to double
export const S2I: u32 = 2; // single to integer
export const D2I: u32 = 3; // double to integer
export const S2D: u32 = 4;
export const D2S: u32 = 5;
export const RCP: u32 = 6;
export const RSQRT: u32 = 7;
export const TRUNC: u32 = 1 << 3; // the CVTT forms
export const FROM_E: u32 = 0 << 4; // r/m32 or r/m64 by REX.W
export const FROM_32: u32 = 1 << 4; // xmm/m32
export const FROM_64: u32 = 2 << 4; // xmm/m64
export const FROM_128: u32 = 3 << 4; // xmm/m128, aligned
export const TO_LANES: u32 = 0 << 6; // the result lanes; the destination's other bytes are kept
export const TO_ZEROED: u32 = 1 << 6; // the result lanes, the rest of the register zeroed
export const TO_GPR: u32 = 2 << 6; // r32 (zero-extended) or r64 by REX.W
const LANES_SHIFT: u32 = 8;
export const ONE: u32 = 1 << LANES_SHIFT;
export const TWO: u32 = 2 << LANES_SHIFT;
export const FOUR: u32 = 4 << LANES_SHIFT;

/** One lane: `x` of `inW` bytes; `size`, the integer result's bytes. */
function convertLane(op: u32, x: u64, inW: u32, size: u32, truncate: bool): u64 {
  switch (op) {
    case I2S: return fromInt(x, inW, 0);
    case I2D: return fromInt(x, inW, 1);
    case S2I: return toInt(x, 0, size, truncate);
    case D2I: return toInt(x, 1, size, truncate);
    case S2D: return convertFloat(x, 0, 1);
    case D2S: return convertFloat(x, 1, 0);
    case RCP: return <u64>rcp(<u32>x);
    default: return <u64>rsqrt(<u32>x);
  }
}

/**
 * Every conversion (`how`; the executors are in sse_float.ts): reads the source, converts the
 * lanes into RES, commits the exceptions, then writes the destination.
 */
export function convert(d: usize, how: u32): void {
  sseCheck();
  const op = how & 7;
  const from = how & (3 << 4), to = how & (3 << 6);
  const lanes = how >> LANES_SHIFT;
  const wide: u32 = rexW(d) ? 8 : 4;
  if (from == FROM_E) store<u64>(SRC, readE(d, wide));
  else if (from == FROM_32) store<u32>(SRC, readW32(d));
  else if (from == FROM_64) store<u64>(SRC, readW64(d));
  else v128.store(SRC, readW(d, true));
  const inW: u32 = op == D2I || op == D2S ? 8 : from == FROM_E ? wide : 4;
  const outW: u32 = op == I2D || op == S2D || to == TO_GPR ? 8 : 4;
  const size: u32 = to == TO_GPR ? wide : 4;
  fpBegin();
  for (let i: u32 = 0; i < lanes; i++) {
    const at = <usize>(i * inW);
    const x = inW == 8 ? load<u64>(SRC + at) : <u64>load<u32>(SRC + at);
    const r = convertLane(op, x, inW, size, (how & TRUNC) != 0);
    if (outW == 8) store<u64>(RES + (<usize>i << 3), r);
    else store<u32>(RES + (<usize>i << 2), <u32>r);
  }
  fpCommit();
  if (to == TO_GPR) {
    setRegN(dReg(d), size, load<u64>(RES));
    return;
  }
  const p = xmmG(d);
  const bytes = <usize>(lanes * outW);
  if (to == TO_ZEROED) memory.fill(RES + bytes, 0, 16 - bytes);
  memory.copy(p, RES, to == TO_ZEROED ? 16 : bytes);
}
