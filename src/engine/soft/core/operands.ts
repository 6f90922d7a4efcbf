// Operand access for executors: effective addresses (SDM Vol. 1, 3.7.5), segment bases, the
// E (ModRM r/m) and G (ModRM reg) operands at any size, and the stack.

import {
  D_BASE, D_INDEX, D_SCALE, D_DISP, D_SEG, D_RM, D_REG, D_ASIZE,
  NO_REG, BASE_RIP, RM_MEM, dRex,
} from './decode';
import { sizeMask } from './bits';
import { readV, writeV, probeWrite, canonical } from './mmu';
import { raise, EXC_SS } from './exceptions';
import {
  mode, nextRip, reg64, setReg64, regN, setRegN, reg8, setReg8, segBase, segAttr,
  SEG_FS, SEG_SS, RSP, ATTR_DB,
} from './state';

/** Linear address of offset `off` in segment `seg` (64-bit mode uses only FS and GS bases). */
@inline export function linear(seg: u32, off: u64): u64 {
  if (mode == 64) {
    if (seg >= SEG_FS) return off + segBase(seg);
    // A non-canonical stack reference is #SS(0), not #GP (SDM Vol. 3A, 6.15 "#SS").
    if (seg == SEG_SS && !canonical(off)) raise(EXC_SS, 0);
    return off;
  }
  return (off + segBase(seg)) & 0xffff_ffff;
}

/** The offset part of the memory operand, truncated to the address size. */
@inline export function offsetOf(d: usize): u64 {
  let a: u64 = <u64>(<i64>load<i32>(d, D_DISP));
  const base = <u32>load<u8>(d, D_BASE);
  if (base != NO_REG) a += base == BASE_RIP ? nextRip : reg64(base);
  const index = <u32>load<u8>(d, D_INDEX);
  if (index != NO_REG) a += reg64(index) << <u64>load<u8>(d, D_SCALE);
  return truncAddr(d, a);
}

/** Truncates an address to the instruction's address size. */
@inline export function truncAddr(d: usize, a: u64): u64 {
  const asize = <u32>load<u8>(d, D_ASIZE);
  if (asize == 8) return a;
  return asize == 4 ? a & 0xffff_ffff : a & 0xffff;
}

/** Linear address of the memory operand. */
@inline export function ea(d: usize): u64 {
  return linear(<u32>load<u8>(d, D_SEG), offsetOf(d));
}

/**
 * Linear address of a read-modify-write memory operand, checked for writing before anything
 * is read: the CPU reports a fault on an RMW operand as a write fault (error code W = 1, the
 * first failing page of a split access), and the instruction must change nothing.
 */
export function rmwEa(d: usize, size: u32): u64 {
  const va = ea(d);
  probeWrite(va, size);
  return va;
}

@inline export function isReg(d: usize): bool { return <u32>load<u8>(d, D_RM) != RM_MEM; }

/** Reads general register `r` at `size` bytes, byte registers per the REX rule. */
@inline export function getReg(d: usize, r: u32, size: u32): u64 {
  return size == 1 ? reg8(r, dRex(d)) : regN(r, size);
}

/** Writes general register `r` at `size` bytes. */
@inline export function putReg(d: usize, r: u32, size: u32, v: u64): void {
  if (size == 1) setReg8(r, dRex(d), v);
  else setRegN(r, size, v);
}

/** The G operand. */
@inline export function readG(d: usize, size: u32): u64 {
  return getReg(d, <u32>load<u8>(d, D_REG), size);
}
@inline export function writeG(d: usize, size: u32, v: u64): void {
  putReg(d, <u32>load<u8>(d, D_REG), size, v);
}

/** The E operand (register or memory). */
@inline export function readE(d: usize, size: u32): u64 {
  const rm = <u32>load<u8>(d, D_RM);
  if (rm != RM_MEM) return getReg(d, rm, size);
  return readV(ea(d), size);
}
@inline export function writeE(d: usize, size: u32, v: u64): void {
  const rm = <u32>load<u8>(d, D_RM);
  if (rm != RM_MEM) putReg(d, rm, size, v);
  else writeV(ea(d), size, v);
}

// --- stack (SDM Vol. 1, 6.2) -------------------------------------------------------------

/** Stack-pointer width: 8 in 64-bit mode, else by SS.B. */
@inline export function stackWidth(): u32 {
  if (mode == 64) return 8;
  return (segAttr(SEG_SS) & ATTR_DB) != 0 ? 4 : 2;
}

@inline function stackAddr(sp: u64): u64 { return linear(SEG_SS, sp); }

/** Stores the new stack pointer at the stack width (16-bit stacks keep the upper bits). */
@inline function setSp(sp: u64, width: u32): void {
  setRegN(RSP, width, sp);
}

/** Pushes `size` bytes of `v`. */
export function push(v: u64, size: u32): void {
  const w = stackWidth();
  const sp = (reg64(RSP) - size) & sizeMask(w);
  writeV(stackAddr(sp), size, v);
  setSp(sp, w);
}

/** Reads the value `size` bytes at the top of the stack plus `offset` without popping. */
export function peek(size: u32, offset: u64): u64 {
  const w = stackWidth();
  return readV(stackAddr((reg64(RSP) + offset) & sizeMask(w)), size);
}

/** Pops `size` bytes. */
export function pop(size: u32): u64 {
  const w = stackWidth();
  const sp = reg64(RSP) & sizeMask(w);
  const v = readV(stackAddr(sp), size);
  setSp(sp + size, w);
  return v;
}

/** Faults now, before any register changes, if a push of `size` bytes would fault. */
export function checkPush(size: u32): void {
  const w = stackWidth();
  probeWrite(stackAddr((reg64(RSP) - size) & sizeMask(w)), size);
}

/** Adjusts the stack pointer by `delta` at the stack width. */
export function addSp(delta: u64): void {
  const w = stackWidth();
  setSp((reg64(RSP) + delta) & sizeMask(w), w);
}

export { setReg64 };
