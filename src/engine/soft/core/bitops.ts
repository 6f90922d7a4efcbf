// Bit test and bit scan: BT, BTS, BTR, BTC (register and imm8 offsets) and BSF, BSR
// (SDM Vol. 2, instruction pages of the same names). F3 0F BC/BD (TZCNT/LZCNT) reach BSF/BSR
// too: without BMI1/ABM in CPUID the REP prefix is ignored, as on CPUs that lack them.

import { locked, atomicPtr, loadAtomic, casAtomic } from './atomic';
import { dOsize, dImm, dOpcode, dReg, D_SEG } from './decode';
import { readE, writeE, readG, writeG, isReg, offsetOf, truncAddr, linear } from './operands';
import { readV, writeV, probeWrite } from './mmu';
import { setFlagBit, FL_CF, FL_ZF } from './flags';
import { sext } from './bits';

/** 0: BT, 1: BTS, 2: BTR, 3: BTC. */
@inline function bitOp(op: u32, v: u64, bit: u64): u64 {
  if (op == 1) return v | (<u64>1 << bit);
  if (op == 2) return v & ~(<u64>1 << bit);
  return v ^ (<u64>1 << bit);
}

/**
 * The common part: `offset` is the bit offset (already sign-extended for register offsets).
 * With a memory operand and a register offset the offset selects an operand-sized word
 * relative to the effective address, in both directions (SDM BT, "bit base").
 */
function bitTest(d: usize, op: u32, offset: u64, wide: bool): void {
  const size = dOsize(d);
  const bits = <u64>(size * 8);
  const bit = offset & (bits - 1);
  if (isReg(d)) {
    const v = readE(d, size);
    setFlagBit(FL_CF, ((v >> bit) & 1) != 0);
    if (op != 0) writeE(d, size, bitOp(op, v, bit));
    return;
  }
  let off = offsetOf(d);
  if (wide) off = truncAddr(d, off + <u64>((<i64>offset >> <i64>(size == 8 ? 6 : size == 4 ? 5 : 4)) * size));
  const va = linear(<u32>load<u8>(d, D_SEG), off);
  if (op != 0) probeWrite(va, size);
  const h = op != 0 && locked(d) ? atomicPtr(va, size) : 0;
  if (h != 0) {
    let v: u64;
    do v = loadAtomic(h, size); while (!casAtomic(h, size, v, bitOp(op, v, bit)));
    setFlagBit(FL_CF, ((v >> bit) & 1) != 0);
    return;
  }
  const v = readV(va, size);
  setFlagBit(FL_CF, ((v >> bit) & 1) != 0);
  if (op != 0) writeV(va, size, bitOp(op, v, bit));
}

/** 0F A3/AB/B3/BB: BT/BTS/BTR/BTC Ev, Gv. */
export function btEG(d: usize): void {
  const size = dOsize(d);
  const g = readG(d, size);
  bitTest(d, (dOpcode(d) >> 3) & 3, sext(g, size), true);
}

/** 0F BA /4–/7: BT/BTS/BTR/BTC Ev, imm8 (the offset is taken modulo the operand size). */
export function btEI(d: usize): void {
  bitTest(d, (dReg(d) & 7) - 4, dImm(d) & 0xff, false);
}

/** 0F BC: BSF. A zero source sets ZF and leaves the destination unchanged (AMD APM BSF). */
export function bsf(d: usize): void {
  const size = dOsize(d);
  const v = readE(d, size);
  setFlagBit(FL_ZF, v == 0);
  if (v != 0) writeG(d, size, ctz<u64>(v));
}

/** 0F BD: BSR. */
export function bsr(d: usize): void {
  const size = dOsize(d);
  const v = readE(d, size);
  setFlagBit(FL_ZF, v == 0);
  if (v != 0) writeG(d, size, <u64>63 - clz<u64>(v));
}
