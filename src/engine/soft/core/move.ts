// Data movement: MOV forms, LEA, MOVZX/MOVSX/MOVSXD, XCHG, BSWAP, CBW/CWD families, CMOVcc,
// SETcc, NOP, XLAT (SDM Vol. 2, instruction pages of the same names).

import { atomicPtr, xchgAtomic } from './atomic';
import { dOsize, dImm, dReg, dOpcode, D_SEG } from './decode';
import {
  readE, writeE, readG, writeG, getReg, putReg, isReg, rmwEa, offsetOf, linear, truncAddr,
} from './operands';
import { readV, writeV } from './mmu';
import { cond } from './flags';
import { sext } from './bits';
import { RAX, RBX, RDX, regN, setRegN } from './state';
import { raiseUD } from './exceptions';

export function movEG(d: usize): void {
  const size = dOsize(d);
  writeE(d, size, readG(d, size));
}

export function movGE(d: usize): void {
  const size = dOsize(d);
  writeG(d, size, readE(d, size));
}

/** C6/C7 /0: the immediate is sign-extended from 32 bits for 64-bit operands. */
export function movEI(d: usize): void {
  writeE(d, dOsize(d), dImm(d));
}

/** B0–BF: MOV r, imm (B8+ with REX.W takes a full 64-bit immediate). */
export function movZI(d: usize): void {
  putReg(d, dReg(d), dOsize(d), dImm(d));
}

/** A0/A1: MOV AL/rAX, moffs. */
export function movAO(d: usize): void {
  const size = dOsize(d);
  putReg(d, RAX, size, readV(linear(<u32>load<u8>(d, D_SEG), truncAddr(d, dImm(d))), size));
}

/** A2/A3: MOV moffs, AL/rAX. */
export function movOA(d: usize): void {
  const size = dOsize(d);
  writeV(linear(<u32>load<u8>(d, D_SEG), truncAddr(d, dImm(d))), size, getReg(d, RAX, size));
}

/** 8D: the offset only, no segment, truncated to the operand size. */
export function lea(d: usize): void {
  if (isReg(d)) raiseUD();
  writeG(d, dOsize(d), offsetOf(d));
}

export function movzxb(d: usize): void { writeG(d, dOsize(d), readE(d, 1)); }
export function movzxw(d: usize): void { writeG(d, dOsize(d), readE(d, 2)); }
export function movsxb(d: usize): void { writeG(d, dOsize(d), sext(readE(d, 1), 1)); }
export function movsxw(d: usize): void { writeG(d, dOsize(d), sext(readE(d, 2), 2)); }

/**
 * 63: MOVSXD with a 64-bit operand; a plain move otherwise. The source is read as 32 bits at
 * every operand size, as AMD CPUs do (Intel reads 16 bits for a 16-bit operand).
 */
export function movsxd(d: usize): void {
  const size = dOsize(d);
  const v = readE(d, 4);
  writeG(d, size, size == 8 ? sext(v, 4) : v);
}

/** 86/87: XCHG with memory is implicitly locked; one vCPU makes it atomic already. */
export function xchgEG(d: usize): void {
  const size = dOsize(d);
  const g = readG(d, size);
  if (isReg(d)) {
    const e = readE(d, size);
    writeE(d, size, g);
    writeG(d, size, e);
    return;
  }
  // XCHG with memory is locked with or without the prefix.
  const va = rmwEa(d, size);
  const h = atomicPtr(va, size);
  const e = h != 0 ? xchgAtomic(h, size, g) : readV(va, size);
  if (h == 0) writeV(va, size, g);
  writeG(d, size, e);
}

/** 91–97 (and 90 with REX.B): XCHG r, rAX. */
export function xchgZA(d: usize): void {
  const size = dOsize(d);
  const r = dReg(d);
  const a = getReg(d, RAX, size);
  putReg(d, RAX, size, getReg(d, r, size));
  putReg(d, r, size, a);
}

/** 90 is XCHG eAX, eAX: a NOP that does not clear RAX's upper half (unless REX.B: r8). */
export function nop(d: usize): void {
  if (dOpcode(d) == 0x90 && dReg(d) != 0) xchgZA(d);
}

/** 0F C8+r. BSWAP of a 16-bit register is undefined; it yields 0 as on most CPUs. */
export function bswapZ(d: usize): void {
  const size = dOsize(d);
  const v = getReg(d, dReg(d), size);
  if (size == 8) putReg(d, dReg(d), 8, bswap<u64>(v));
  else if (size == 4) putReg(d, dReg(d), 4, <u64>bswap<u32>(<u32>v));
  else putReg(d, dReg(d), 2, 0);
}

/** 98: CBW/CWDE/CDQE. */
export function cbw(d: usize): void {
  const size = dOsize(d);
  const half = size >> 1;
  putReg(d, RAX, size, sext(getReg(d, RAX, half), half));
}

/** 99: CWD/CDQ/CQO. */
export function cwd(d: usize): void {
  const size = dOsize(d);
  const sign = (getReg(d, RAX, size) >> (<u64>size * 8 - 1)) & 1;
  putReg(d, RDX, size, sign != 0 ? <u64>-1 : 0);
}

/** 0F 40+cc. A 32-bit CMOV zero-extends its destination even when the condition is false. */
export function cmovcc(d: usize): void {
  const size = dOsize(d);
  const v = readE(d, size);
  if (cond(dOpcode(d) & 15)) writeG(d, size, v);
  else if (size == 4) writeG(d, 4, readG(d, 4));
}

/** 0F 90+cc. */
export function setcc(d: usize): void {
  writeE(d, 1, cond(dOpcode(d) & 15) ? 1 : 0);
}

/** D7: XLAT sets AL to the byte at rBX + AL (address size; DS unless overridden). */
export function xlat(d: usize): void {
  const off = truncAddr(d, regN(RBX, 8) + regN(RAX, 1));
  setRegN(RAX, 1, readV(linear(<u32>load<u8>(d, D_SEG), off), 1));
}
