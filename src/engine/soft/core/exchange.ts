// Exchanging read-modify-writes: XADD, CMPXCHG and CMPXCHG8B (SDM Vol. 2, same names). LOCK'd
// forms use atomic operations on guest memory where they can (atomic.ts); memory operands are
// checked for writing first, so a fault changes nothing, and CMPXCHG writes memory back even
// when the comparison fails.

import { dOsize, D_REX } from './decode';
import { readE, writeE, readG, writeG, isReg, rmwEa, getReg, putReg } from './operands';
import { readV, writeV } from './mmu';
import { alu } from './alu';
import { setFlagBit, FL_ZF } from './flags';
import { RAX, RBX, RCX, RDX, regN, setRegN } from './state';
import { raiseUD } from './exceptions';
import { locked, atomicPtr, addAtomic, cmpxchgAtomic } from './atomic';

/** 0F C0/C1: XADD Eb/Ev, Gb/Gv. The destination's write wins when E and G are one register. */
export function xadd(d: usize): void {
  const size = dOsize(d);
  const g = readG(d, size);
  if (isReg(d)) {
    const a = readE(d, size);
    const sum = alu(0, a, g, size);
    writeG(d, size, a);
    writeE(d, size, sum);
    return;
  }
  const va = rmwEa(d, size);
  const h = locked(d) ? atomicPtr(va, size) : 0;
  if (h != 0) {
    const old = addAtomic(h, size, g);
    alu(0, old, g, size);
    writeG(d, size, old);
    return;
  }
  const a = readV(va, size);
  const sum = alu(0, a, g, size);
  writeV(va, size, sum);
  writeG(d, size, a);
}

/** 0F B0/B1: CMPXCHG Eb/Ev, Gb/Gv; flags as CMP accumulator, destination. */
export function cmpxchg(d: usize): void {
  const size = dOsize(d);
  const va = isReg(d) ? 0 : rmwEa(d, size);
  const h = !isReg(d) && locked(d) ? atomicPtr(va, size) : 0;
  if (h != 0) {
    const acc = getReg(d, RAX, size);
    const old = cmpxchgAtomic(h, size, acc, readG(d, size));
    alu(7, acc, old, size);
    if (old != acc) putReg(d, RAX, size, old);
    return;
  }
  const dest = isReg(d) ? readE(d, size) : readV(va, size);
  const acc = getReg(d, RAX, size);
  alu(7, acc, dest, size);
  if (acc == dest) {
    const src = readG(d, size);
    if (isReg(d)) writeE(d, size, src); else writeV(va, size, src);
  } else {
    if (!isReg(d)) writeV(va, size, dest);
    putReg(d, RAX, size, dest);
  }
}

/**
 * 0F C7 /1: CMPXCHG8B m64. Only ZF changes. A register operand is #UD, and so is REX.W
 * (CMPXCHG16B) while CPUID does not advertise CX16.
 */
export function cmpxchg8b(d: usize): void {
  if (isReg(d) || (load<u8>(d, D_REX) & 8) != 0) raiseUD();
  const va = rmwEa(d, 8);
  const cmp = (regN(RDX, 4) << 32) | regN(RAX, 4);
  const h = locked(d) ? atomicPtr(va, 8) : 0;
  if (h != 0) {
    const m = cmpxchgAtomic(h, 8, cmp, (regN(RCX, 4) << 32) | regN(RBX, 4));
    setFlagBit(FL_ZF, m == cmp);
    if (m != cmp) {
      setRegN(RAX, 4, m & 0xffff_ffff);
      setRegN(RDX, 4, m >> 32);
    }
    return;
  }
  const m = readV(va, 8);
  if (m == cmp) {
    writeV(va, 8, (regN(RCX, 4) << 32) | regN(RBX, 4));
    setFlagBit(FL_ZF, true);
  } else {
    writeV(va, 8, m);
    setRegN(RAX, 4, m & 0xffff_ffff);
    setRegN(RDX, 4, m >> 32);
    setFlagBit(FL_ZF, false);
  }
}
