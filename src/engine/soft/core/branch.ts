// Control transfer and the stack: Jcc, JMP, CALL, RET, LOOP/JRCXZ, PUSH/POP, PUSHF/POPF,
// ENTER/LEAVE (SDM Vol. 2, instruction pages of the same names).

import { dOsize, dImm, dReg, dOpcode, dAsize, D_IMM2, D_SEG } from './decode';
import {
  readE, writeE, isReg, offsetOf, push, pop, peek, checkPush, addSp, stackWidth,
} from './operands';
import { readV, writeV, probeWrite, canonical } from './mmu';
import { raiseGP } from './exceptions';
import { sizeMask } from './bits';
import { cond, getZF, getFlags, setFlags, FL_IF, FL_DEFINED } from './flags';
import { nextRip, mode, cpl, reg64, setReg64, regN, setRegN, RCX, RBP, RSP, SEG_SS } from './state';
import { linear } from './operands';

/**
 * A branch target: truncated to the operand size outside 64-bit mode; in 64-bit mode a
 * non-canonical target is #GP(0) on the branch itself, before it changes anything.
 */
@inline function target(t: u64, size: u32): u64 {
  if (mode == 64) {
    if (!canonical(t)) raiseGP(0);
    return t;
  }
  return size == 2 ? t & 0xffff : t & 0xffff_ffff;
}

export function jcc(d: usize): void {
  if (cond(dOpcode(d) & 15)) nextRip = target(nextRip + dImm(d), dOsize(d));
}

export function jmpRel(d: usize): void {
  nextRip = target(nextRip + dImm(d), dOsize(d));
}

/** A push fault comes before the #GP of a non-canonical target, and neither changes RSP. */
export function callRel(d: usize): void {
  const size = dOsize(d);
  checkPush(size);
  const t = target(nextRip + dImm(d), size);
  push(nextRip, size);
  nextRip = t;
}

/** C3, C2 iw. */
export function retNear(d: usize): void {
  const size = dOsize(d);
  const t = target(peek(size, 0), size);
  addSp(size);
  if (dOpcode(d) == 0xc2) addSp(dImm(d));
  nextRip = t;
}

/** FF /2. */
export function callE(d: usize): void {
  const size = dOsize(d);
  const v = readE(d, size);
  checkPush(size);
  const t = target(v, size);
  push(nextRip, size);
  nextRip = t;
}

/** FF /4. */
export function jmpE(d: usize): void {
  nextRip = target(readE(d, dOsize(d)), dOsize(d));
}

/** E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ; the count register has the address size. */
export function loop(d: usize): void {
  const asize = dAsize(d);
  const op = dOpcode(d);
  let count = regN(RCX, asize);
  let taken: bool;
  if (op == 0xe3) {
    taken = count == 0;
  } else {
    count = (count - 1) & sizeMask(asize);
    taken = count != 0;
    if (op == 0xe0) taken = taken && getZF() == 0;
    else if (op == 0xe1) taken = taken && getZF() != 0;
  }
  if (taken) nextRip = target(nextRip + dImm(d), dOsize(d));
  if (op != 0xe3) setRegN(RCX, asize, count);
}

/** 50+r. PUSH RSP pushes the value before the decrement. */
export function pushZ(d: usize): void {
  const size = dOsize(d);
  push(regN(dReg(d), size), size);
}

/** 58+r. POP RSP leaves the popped value in RSP. */
export function popZ(d: usize): void {
  const size = dOsize(d);
  const v = pop(size);
  setRegN(dReg(d), size, v);
}

/** 68/6A: the immediate is sign-extended to the operand size. */
export function pushI(d: usize): void {
  push(dImm(d), dOsize(d));
}

/** FF /6. */
export function pushE(d: usize): void {
  const size = dOsize(d);
  push(readE(d, size), size);
}

/**
 * 8F /0: the address of a memory destination uses RSP after the pop (SDM POP); RSP changes
 * only once the store has succeeded.
 */
export function popE(d: usize): void {
  const size = dOsize(d);
  const v = peek(size, 0);
  if (isReg(d)) { addSp(size); writeE(d, size, v); return; }
  const old = reg64(RSP);
  addSp(size);
  const off = offsetOf(d);
  setReg64(RSP, old);
  writeV(linear(<u32>load<u8>(d, D_SEG), off), size, v);
  addSp(size);
}

/** 9C: VM and RF read as 0 in the pushed image. */
export function pushf(d: usize): void {
  push(getFlags() & ~<u64>0x3_0000, dOsize(d));
}

/**
 * 9D: IOPL changes only at CPL 0 and IF only when CPL ≤ IOPL (SDM POPF, Table 4-16);
 * VM, VIF and VIP never change from 64-bit or protected-mode POPF here.
 */
export function popf(d: usize): void {
  const size = dOsize(d);
  const v = pop(size);
  const old = getFlags();
  let mask: u64 = FL_DEFINED & ~(<u64>(1 << 16) | (1 << 17) | (1 << 19) | (1 << 20));
  if (size == 2) mask &= 0xffff;
  const iopl = <u32>(old >> 12) & 3;
  if (cpl > 0) mask &= ~<u64>0x3000;
  if (cpl > iopl) mask &= ~FL_IF;
  setFlags((old & ~mask) | (v & mask));
}

/**
 * C8 iw, ib (SDM ENTER, the nesting-level algorithm). RSP and RBP change only at the end, so a
 * fault leaves them as they were; stack writes made before the fault stay, as on hardware.
 * Like the CPU (and Bochs), it finally checks that the new stack top is writable.
 */
export function enter(d: usize): void {
  const size = dOsize(d);
  const frame = dImm(d) & 0xffff;
  const level = <u32>load<u8>(d, D_IMM2) & 31;
  const w = stackWidth();
  const m = sizeMask(w);
  let sp = (regN(RSP, w) - size) & m;
  writeV(linear(SEG_SS, sp), size, regN(RBP, size));
  const frameTemp = sp;
  if (level > 0) {
    let bp = regN(RBP, w);
    for (let i: u32 = 1; i < level; i++) {
      bp = (bp - size) & m;
      const v = readV(linear(SEG_SS, bp), size);
      sp = (sp - size) & m;
      writeV(linear(SEG_SS, sp), size, v);
    }
    sp = (sp - size) & m;
    writeV(linear(SEG_SS, sp), size, frameTemp);
  }
  sp = (sp - frame) & m;
  probeWrite(linear(SEG_SS, sp), size);
  setRegN(RBP, size, frameTemp);
  setRegN(RSP, w, sp);
}

/** C9: the pop from [RBP] faults before RSP changes. */
export function leave(d: usize): void {
  const size = dOsize(d);
  const w = stackWidth();
  const bp = regN(RBP, w);
  const v = readV(linear(SEG_SS, bp), size);
  setRegN(RSP, w, bp + size);
  setRegN(RBP, size, v);
}
