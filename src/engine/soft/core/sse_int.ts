// SSE2 integer operations on XMM registers (SDM Vol. 2, PADDB … PXOR) and the bitwise
// ANDPS/ANDNPS/ORPS/XORPS family, on wasm SIMD. Each reads its 128-bit source (XMM register or
// 16-byte-aligned memory) first, then writes the destination register. Where wasm and x86
// differ the code says so: wasm shifts take the count modulo the lane width, x86 shifts a count
// beyond it to zero (or to the sign for arithmetic shifts).

import { dImm } from './decode';
import { sseCheck, xmmG, xmmE, readW, TMP } from './sse';

const ZERO: v128 = i64x2.splat(0);

/** The source operand of a `Vx, Wx` form, after the availability check. */
@inline function src(d: usize): v128 {
  sseCheck();
  return readW(d, true);
}

// Bitwise (also ANDPS/ANDPD, ANDNPS/ANDNPD, ORPS/ORPD, XORPS/XORPD).
export function pand(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, v128.and(v128.load(p), b)); }
export function pandn(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, v128.andnot(b, v128.load(p))); }
export function por(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, v128.or(v128.load(p), b)); }
export function pxor(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, v128.xor(v128.load(p), b)); }

// Add and subtract, wrapping and saturating.
export function paddb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.add(v128.load(p), b)); }
export function paddw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.add(v128.load(p), b)); }
export function paddd(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i32x4.add(v128.load(p), b)); }
export function paddq(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i64x2.add(v128.load(p), b)); }
export function psubb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.sub(v128.load(p), b)); }
export function psubw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.sub(v128.load(p), b)); }
export function psubd(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i32x4.sub(v128.load(p), b)); }
export function psubq(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i64x2.sub(v128.load(p), b)); }
export function paddsb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.add_sat_s(v128.load(p), b)); }
export function paddsw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.add_sat_s(v128.load(p), b)); }
export function paddusb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.add_sat_u(v128.load(p), b)); }
export function paddusw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.add_sat_u(v128.load(p), b)); }
export function psubsb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.sub_sat_s(v128.load(p), b)); }
export function psubsw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.sub_sat_s(v128.load(p), b)); }
export function psubusb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.sub_sat_u(v128.load(p), b)); }
export function psubusw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.sub_sat_u(v128.load(p), b)); }

// Compare, minimum, maximum, average.
export function pcmpeqb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.eq(v128.load(p), b)); }
export function pcmpeqw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.eq(v128.load(p), b)); }
export function pcmpeqd(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i32x4.eq(v128.load(p), b)); }
export function pcmpgtb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.gt_s(v128.load(p), b)); }
export function pcmpgtw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.gt_s(v128.load(p), b)); }
export function pcmpgtd(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i32x4.gt_s(v128.load(p), b)); }
export function pminub(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.min_u(v128.load(p), b)); }
export function pmaxub(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.max_u(v128.load(p), b)); }
export function pminsw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.min_s(v128.load(p), b)); }
export function pmaxsw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.max_s(v128.load(p), b)); }
// (a + b + 1) >> 1 without overflow, as x86 PAVGB/PAVGW.
export function pavgb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.avgr_u(v128.load(p), b)); }
export function pavgw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.avgr_u(v128.load(p), b)); }

// Multiplies.
export function pmullw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.mul(v128.load(p), b)); }

/** High 16 bits of the signed 16×16 products; the shifted products fit, so narrowing is exact. */
export function pmulhw(d: usize): void {
  const b = src(d), p = xmmG(d);
  const a = v128.load(p);
  const lo = i32x4.shr_s(i32x4.extmul_low_i16x8_s(a, b), 16);
  const hi = i32x4.shr_s(i32x4.extmul_high_i16x8_s(a, b), 16);
  v128.store(p, i16x8.narrow_i32x4_s(lo, hi));
}

export function pmulhuw(d: usize): void {
  const b = src(d), p = xmmG(d);
  const a = v128.load(p);
  const lo = i32x4.shr_u(i32x4.extmul_low_i16x8_u(a, b), 16);
  const hi = i32x4.shr_u(i32x4.extmul_high_i16x8_u(a, b), 16);
  v128.store(p, i16x8.narrow_i32x4_u(lo, hi));
}

/** Doublewords 0 and 2 moved to lanes 0 and 1. */
@inline function evenDwords(v: v128): v128 {
  return i8x16.shuffle(v, v, 0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11);
}

/** Unsigned 32×32 → 64 products of doublewords 0 and 2. */
export function pmuludq(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i64x2.extmul_low_i32x4_u(evenDwords(v128.load(p)), evenDwords(b)));
}

/** Signed word products summed in pairs (0x8000 × 0x8000 twice wraps to 0x8000_0000 on both). */
export function pmaddwd(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i32x4.dot_i16x8_s(v128.load(p), b)); }

/** Sums of absolute byte differences of each quadword, in its low word. */
export function psadbw(d: usize): void {
  const b = src(d), p = xmmG(d);
  const a = v128.load(p);
  const diff = v128.or(i8x16.sub_sat_u(a, b), i8x16.sub_sat_u(b, a));
  const s = i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(diff));
  const lo = <u64>i32x4.extract_lane(s, 0) + <u64>i32x4.extract_lane(s, 1);
  const hi = <u64>i32x4.extract_lane(s, 2) + <u64>i32x4.extract_lane(s, 3);
  v128.store(p, i64x2.replace_lane(i64x2.splat(lo), 1, hi));
}

// Pack with saturation: the destination's elements fill the low half, the source's the high.
export function packsswb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.narrow_i16x8_s(v128.load(p), b)); }
export function packuswb(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i8x16.narrow_i16x8_u(v128.load(p), b)); }
export function packssdw(d: usize): void { const b = src(d), p = xmmG(d); v128.store(p, i16x8.narrow_i32x4_s(v128.load(p), b)); }

// Unpack (interleave) low and high halves; also UNPCKLPS/UNPCKHPS (dwords) and
// UNPCKLPD/UNPCKHPD (quadwords).
export function punpcklbw(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
}
export function punpckhbw(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
}
export function punpcklwd(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
}
export function punpckhwd(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31));
}
export function punpckldq(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
}
export function punpckhdq(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31));
}
export function punpcklqdq(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
}
export function punpckhqdq(d: usize): void {
  const b = src(d), p = xmmG(d);
  v128.store(p, i8x16.shuffle(v128.load(p), b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
}

// Shuffles with an immediate selector. The source goes through TMP so that lanes can be
// picked by run-time indices.
@inline function imm8(d: usize): u32 { return <u32>dImm(d) & 0xff; }

/** PSHUFD: dword i of the result is source dword (imm >> 2i) & 3. */
export function pshufd(d: usize): void {
  const b = src(d), n = imm8(d), p = xmmG(d);
  v128.store(TMP, b);
  for (let i: u32 = 0; i < 4; i++) store<u32>(p + (i << 2), load<u32>(TMP + (((n >> (i << 1)) & 3) << 2)));
}

/** PSHUFHW: the high four words shuffled, the low quadword copied. */
export function pshufhw(d: usize): void {
  const b = src(d), n = imm8(d), p = xmmG(d);
  v128.store(TMP, b);
  store<u64>(p, load<u64>(TMP));
  for (let i: u32 = 0; i < 4; i++) store<u16>(p + 8 + (i << 1), load<u16>(TMP + 8 + (((n >> (i << 1)) & 3) << 1)));
}

/** PSHUFLW: the low four words shuffled, the high quadword copied. */
export function pshuflw(d: usize): void {
  const b = src(d), n = imm8(d), p = xmmG(d);
  v128.store(TMP, b);
  store<u64>(p, load<u64>(TMP, 8), 8);
  for (let i: u32 = 0; i < 4; i++) store<u16>(p + (i << 1), load<u16>(TMP + (((n >> (i << 1)) & 3) << 1)));
}

/** SHUFPS: two dwords of the destination, then two of the source. */
export function shufps(d: usize): void {
  const b = src(d), n = imm8(d), p = xmmG(d);
  v128.store(TMP, b);
  const r0 = load<u32>(p + ((n & 3) << 2));
  const r1 = load<u32>(p + (((n >> 2) & 3) << 2));
  const r2 = load<u32>(TMP + (((n >> 4) & 3) << 2));
  const r3 = load<u32>(TMP + (((n >> 6) & 3) << 2));
  store<u32>(p, r0);
  store<u32>(p, r1, 4);
  store<u32>(p, r2, 8);
  store<u32>(p, r3, 12);
}

/** SHUFPD: a quadword of the destination, then one of the source. */
export function shufpd(d: usize): void {
  const b = src(d), n = imm8(d), p = xmmG(d);
  v128.store(TMP, b);
  const r0 = load<u64>(p + ((n & 1) << 3));
  const r1 = load<u64>(TMP + (((n >> 1) & 1) << 3));
  store<u64>(p, r0);
  store<u64>(p, r1, 8);
}

// Shifts by the count in an XMM register or memory (its low quadword, unsigned) or by imm8.
@inline function countOf(b: v128): u64 { return <u64>i64x2.extract_lane(b, 0); }

@inline function srlw(a: v128, c: u64): v128 { return c > 15 ? ZERO : i16x8.shr_u(a, <i32>c); }
@inline function srld(a: v128, c: u64): v128 { return c > 31 ? ZERO : i32x4.shr_u(a, <i32>c); }
@inline function srlq(a: v128, c: u64): v128 { return c > 63 ? ZERO : i64x2.shr_u(a, <i32>c); }
@inline function sllw(a: v128, c: u64): v128 { return c > 15 ? ZERO : i16x8.shl(a, <i32>c); }
@inline function slld(a: v128, c: u64): v128 { return c > 31 ? ZERO : i32x4.shl(a, <i32>c); }
@inline function sllq(a: v128, c: u64): v128 { return c > 63 ? ZERO : i64x2.shl(a, <i32>c); }
@inline function sraw(a: v128, c: u64): v128 { return i16x8.shr_s(a, <i32>(c > 15 ? 15 : c)); }
@inline function srad(a: v128, c: u64): v128 { return i32x4.shr_s(a, <i32>(c > 31 ? 31 : c)); }

export function psrlw(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, srlw(v128.load(p), c)); }
export function psrld(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, srld(v128.load(p), c)); }
export function psrlq(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, srlq(v128.load(p), c)); }
export function psllw(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, sllw(v128.load(p), c)); }
export function pslld(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, slld(v128.load(p), c)); }
export function psllq(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, sllq(v128.load(p), c)); }
export function psraw(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, sraw(v128.load(p), c)); }
export function psrad(d: usize): void { const c = countOf(src(d)), p = xmmG(d); v128.store(p, srad(v128.load(p), c)); }

// 66 0F 71/72/73 with a register operand (ModRM.rm) and an imm8 count.
@inline function immCount(d: usize): u64 { sseCheck(); return <u64>imm8(d); }

export function psrlwI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, srlw(v128.load(p), c)); }
export function psrldI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, srld(v128.load(p), c)); }
export function psrlqI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, srlq(v128.load(p), c)); }
export function psllwI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, sllw(v128.load(p), c)); }
export function pslldI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, slld(v128.load(p), c)); }
export function psllqI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, sllq(v128.load(p), c)); }
export function psrawI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, sraw(v128.load(p), c)); }
export function psradI(d: usize): void { const c = immCount(d), p = xmmE(d); v128.store(p, srad(v128.load(p), c)); }

/** Byte indices 0..15, for the whole-register byte shifts. */
const IOTA: v128 = i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

/** PSRLDQ: shift right by imm8 bytes; swizzle yields 0 for indices of 16 and more. */
export function psrldqI(d: usize): void {
  const c = immCount(d), p = xmmE(d);
  const n = <i8>(c > 16 ? 16 : c);
  v128.store(p, i8x16.swizzle(v128.load(p), i8x16.add(IOTA, i8x16.splat(n))));
}

/** PSLLDQ: shift left by imm8 bytes; indices below 0 wrap to 240 and more, which yield 0. */
export function pslldqI(d: usize): void {
  const c = immCount(d), p = xmmE(d);
  const n = <i8>(c > 16 ? 16 : c);
  v128.store(p, i8x16.swizzle(v128.load(p), i8x16.sub(IOTA, i8x16.splat(n))));
}
