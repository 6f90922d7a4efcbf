// Segment-register instructions (SDM Vol. 2): MOV to and from Sreg, PUSH/POP FS and GS,
// LSS/LFS/LGS, and the far transfers JMP/CALL m16:xx and RET far, at the same privilege
// (calls through call gates and far returns to an outer ring are not implemented: #GP).

import { dOsize, dReg, dImm, dOpcode } from './decode';
import { ea, isReg, readE, writeE, push, peek, checkPush, addSp } from './operands';
import { readV, canonical } from './mmu';
import { raiseGP, raiseUD, raise, EXC_GP } from './exceptions';
import {
  cpl, nextRip, setNextRip, segSelector, setRegN, SEG_CS, SEG_SS, SEG_FS, SEG_GS,
} from './state';
import { loadDataSegment, checkCodeSegment, loadCodeSegment, descAttr, A_L, SEL_RPL } from './descriptors';
import { setShadow } from './control';
import { icount } from './state';

/** 8E: MOV Sreg, Ew. MOV to CS is #UD; MOV to SS blocks interrupts for one instruction. */
export function movToSreg(d: usize): void {
  const seg = dReg(d) & 7;
  if (seg == SEG_CS || seg > SEG_GS) raiseUD();
  loadDataSegment(seg, <u32>readE(d, 2) & 0xffff);
  if (seg == SEG_SS) setShadow(icount + 1);
}

/** 8C: MOV Ev, Sreg (a register destination takes the operand size, zero-extended). */
export function movFromSreg(d: usize): void {
  const seg = dReg(d) & 7;
  if (seg > SEG_GS) raiseUD();
  writeE(d, isReg(d) ? dOsize(d) : 2, <u64>segSelector(seg));
}

/** 0F A0/A8 PUSH FS/GS, and the 16/32-bit-only 06/0E/16/1E. */
export function pushSreg(d: usize): void {
  push(<u64>segSelector(sregOf(dOpcode(d))), dOsize(d));
}

/** 0F A1/A9 POP FS/GS, and 07/17/1F outside 64-bit mode. */
export function popSreg(d: usize): void {
  const size = dOsize(d);
  const seg = sregOf(dOpcode(d));
  loadDataSegment(seg, <u32>peek(size, 0) & 0xffff);
  addSp(size);
  if (seg == SEG_SS) setShadow(icount + 1);
}

function sregOf(op: u32): u32 {
  if (op == 0x1a0 || op == 0x1a1) return SEG_FS;
  if (op == 0x1a8 || op == 0x1a9) return SEG_GS;
  return (op >> 3) & 3; // 06/07 ES, 0E CS, 16/17 SS, 1E/1F DS
}

/** 0F B2 LSS, 0F B4 LFS, 0F B5 LGS: load a far pointer m16:xx. */
export function loadFarPointer(d: usize): void {
  if (isReg(d)) raiseUD();
  const size = dOsize(d);
  const va = ea(d);
  const offset = readV(va, size);
  const sel = <u32>readV(va + size, 2);
  const op = dOpcode(d);
  const seg = op == 0x1b2 ? SEG_SS : op == 0x1b4 ? SEG_FS : SEG_GS;
  loadDataSegment(seg, sel);
  setRegN(dReg(d), size, offset);
}

/** A far target in the current privilege; returns the raw code descriptor. */
function farTarget(sel: u32, offset: u64): u64 {
  if ((sel & SEL_RPL) > cpl) raise(EXC_GP, <u64>(sel & 0xfffc));
  const cs = checkCodeSegment(sel, cpl, EXC_GP);
  if ((descAttr(cs) & A_L) != 0 && !canonical(offset)) raiseGP(0);
  return cs;
}

/** The far pointer m16:xx of JMP/CALL far: the offset, with the selector in farSelector. */
let farSelector: u32 = 0;
function readFarPointer(d: usize): u64 {
  if (isReg(d)) raiseUD();
  const size = dOsize(d);
  const va = ea(d);
  const offset = readV(va, size);
  farSelector = <u32>readV(va + size, 2);
  return offset;
}

/** FF /5: JMP m16:16/32/64. */
export function jmpFar(d: usize): void {
  const offset = readFarPointer(d);
  const sel = farSelector;
  const cs = farTarget(sel, offset);
  loadCodeSegment(sel, cs, cpl);
  setNextRip(offset);
}

/** FF /3: CALL m16:16/32/64 — pushes CS then the return address. */
export function callFar(d: usize): void {
  const size = dOsize(d);
  const offset = readFarPointer(d);
  const sel = farSelector;
  const cs = farTarget(sel, offset);
  checkPush(size * 2);
  push(<u64>segSelector(SEG_CS), size);
  push(nextRip, size);
  loadCodeSegment(sel, cs, cpl);
  setNextRip(offset);
}

/** CB, CA iw: RET far to the same privilege (an outer-ring return is #GP here). */
export function retFar(d: usize): void {
  const size = dOsize(d);
  const offset = peek(size, 0);
  const sel = <u32>peek(size, size) & 0xffff;
  if ((sel & SEL_RPL) != cpl) raiseGP(<u64>(sel & 0xfffc));
  const cs = farTarget(sel, offset);
  loadCodeSegment(sel, cs, cpl);
  addSp(<u64>size * 2 + (dOpcode(d) == 0xca ? dImm(d) & 0xffff : 0));
  setNextRip((descAttr(cs) & A_L) != 0 ? offset : offset & 0xffff_ffff);
}

