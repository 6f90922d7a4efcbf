// LOCK'd read-modify-writes as atomic operations on guest memory (SDM Vol. 3A, 8.1.2.2), so
// that they stay atomic against every other agent writing guest RAM: device models and
// back-end workers on other threads. An operand that is naturally aligned, in RAM and
// writable through the TLB's fast path is updated with wasm atomics; any other (a split lock,
// MMIO, a page not yet dirty or holding code) takes the ordinary path, which is still atomic
// with respect to this vCPU.

import { writePtr } from './mmu';
import { D_LOCK } from './decode';

/** True when the instruction has a LOCK prefix. */
@inline export function locked(d: usize): bool {
  return load<u8>(d, D_LOCK) != 0;
}

/** The host address for an atomic update of `size` bytes at `va`, or 0 if it cannot be one. */
@inline export function atomicPtr(va: u64, size: u32): usize {
  if ((va & <u64>(size - 1)) != 0) return 0;
  return writePtr(va, size);
}

/** Atomically reads `size` bytes at host address `h`. */
@inline export function loadAtomic(h: usize, size: u32): u64 {
  if (size == 1) return <u64>atomic.load<u8>(h);
  if (size == 2) return <u64>atomic.load<u16>(h);
  if (size == 4) return <u64>atomic.load<u32>(h);
  return atomic.load<u64>(h);
}

/**
 * Compare-and-exchange of `size` bytes at `h`: stores `v` if it holds `expected`; returns what
 * it held.
 */
@inline export function cmpxchgAtomic(h: usize, size: u32, expected: u64, v: u64): u64 {
  if (size == 1) return <u64>atomic.cmpxchg<u8>(h, <u8>expected, <u8>v);
  if (size == 2) return <u64>atomic.cmpxchg<u16>(h, <u16>expected, <u16>v);
  if (size == 4) return <u64>atomic.cmpxchg<u32>(h, <u32>expected, <u32>v);
  return atomic.cmpxchg<u64>(h, expected, v);
}

/** Compare-and-swap: true when `v` was stored because `h` still held `expected`. */
@inline export function casAtomic(h: usize, size: u32, expected: u64, v: u64): bool {
  return cmpxchgAtomic(h, size, expected, v) == expected;
}

/** Atomically exchanges `size` bytes at `h` with `v`; returns the old value. */
@inline export function xchgAtomic(h: usize, size: u32, v: u64): u64 {
  if (size == 1) return <u64>atomic.xchg<u8>(h, <u8>v);
  if (size == 2) return <u64>atomic.xchg<u16>(h, <u16>v);
  if (size == 4) return <u64>atomic.xchg<u32>(h, <u32>v);
  return atomic.xchg<u64>(h, v);
}

/** Atomically adds `v` to `size` bytes at `h`; returns the old value. */
@inline export function addAtomic(h: usize, size: u32, v: u64): u64 {
  if (size == 1) return <u64>atomic.add<u8>(h, <u8>v);
  if (size == 2) return <u64>atomic.add<u16>(h, <u16>v);
  if (size == 4) return <u64>atomic.add<u32>(h, <u32>v);
  return atomic.add<u64>(h, v);
}
