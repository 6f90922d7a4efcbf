// Width arithmetic shared by the executors: masks, sign bits, sign extension and parity for
// operand, address and stack widths given in bytes (1, 2, 4 or 8).

/** All ones in the low `size` bytes. */
@inline export function sizeMask(size: u32): u64 {
  return size == 8 ? <u64>-1 : (<u64>1 << (<u64>size << 3)) - 1;
}

/** The sign bit of a `size`-byte value, as 0 or 1. */
@inline export function signBit(v: u64, size: u32): u64 {
  return (v >> ((<u64>size << 3) - 1)) & 1;
}

/** Sign-extends the low `size` bytes of `v` to 64 bits. */
@inline export function sext(v: u64, size: u32): u64 {
  const sh = <u64>(64 - size * 8);
  return <u64>(<i64>(v << sh) >> sh);
}

/** Parity flag of the low byte of `v`: 1 when it has an even number of set bits. */
@inline export function parity(v: u64): u64 {
  return <u64>((popcnt<u32>(<u32>v & 0xff) & 1) == 0);
}

/** High 64 bits of the unsigned 128-bit product a * b. */
export function mulHiU(a: u64, b: u64): u64 {
  const aL = a & 0xffff_ffff, aH = a >> 32, bL = b & 0xffff_ffff, bH = b >> 32;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >> 32) + (lh & 0xffff_ffff) + (hl & 0xffff_ffff);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/** High 64 bits of the signed 128-bit product a * b. */
export function mulHiS(a: u64, b: u64): u64 {
  let hi = mulHiU(a, b);
  if (<i64>a < 0) hi -= b;
  if (<i64>b < 0) hi -= a;
  return hi;
}
