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
