// Shifts and rotates, group 2 (SDM Vol. 2: SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR).

import { dOsize, dImm, dReg, dOpcode } from './decode';
import { isReg, rmwEa, readE, writeE, readG } from './operands';
import { readV, writeV } from './mmu';
import { setArith, setLazy, getCF, getFlags, FL_AF, LF_SHIFT } from './flags';
import { sizeMask, signBit, parity, sext } from './bits';
import { RCX, reg64 } from './state';

/** Flags after SHL/SHR/SAR: CF and OF given; SF, ZF, PF from the result; AF undefined (0). */
@inline export function shiftFlags(r: u64, size: u32, cf: u64, ovf: u64): void {
  setLazy(LF_SHIFT, size, cf, ovf, r);
}

/** Rotates change only CF and OF; the other flags keep their values. */
function rotateFlags(cf: u64, ovf: u64): void {
  const f = getFlags();
  setArith(cf, (f >> 2) & 1, (f & FL_AF) != 0 ? 1 : 0, (f >> 6) & 1, (f >> 7) & 1, ovf);
}

/** C0/C1/D0–D3 /op. */
export function shiftGrp(d: usize): void {
  const size = dOsize(d);
  const op = dReg(d) & 7;
  const opc = dOpcode(d);
  let count: u32 = opc >= 0xd2 ? <u32>reg64(RCX) & 0xff : opc >= 0xd0 ? 1 : <u32>dImm(d) & 0xff;
  count &= size == 8 ? 0x3f : 0x1f;
  const va = isReg(d) ? 0 : rmwEa(d, size);
  const a = isReg(d) ? readE(d, size) : readV(va, size);
  if (count == 0) {
    // No flags change, but a 32-bit register destination is still written (zero-extended).
    if (isReg(d) && size == 4) writeE(d, 4, a);
    return;
  }
  const bits = size * 8;
  const m = sizeMask(size);
  let r: u64 = a;
  const c = <u64>count;
  switch (op) {
    case 0: { // ROL
      const k = <u64>(count % bits);
      r = k == 0 ? a : ((a << k) | (a >> (<u64>bits - k))) & m;
      const cf = r & 1;
      rotateFlags(cf, signBit(r, size) ^ cf);
      break;
    }
    case 1: { // ROR
      const k = <u64>(count % bits);
      r = k == 0 ? a : ((a >> k) | (a << (<u64>bits - k))) & m;
      rotateFlags(signBit(r, size), signBit(r, size) ^ signBit(r << 1, size));
      break;
    }
    case 2: { // RCL: rotate through CF, one bit at a time over bits + 1 positions
      const k = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
      let cf = getCF();
      for (let i: u32 = 0; i < k; i++) {
        const out = signBit(r, size);
        r = ((r << 1) | cf) & m;
        cf = out;
      }
      rotateFlags(cf, signBit(r, size) ^ cf);
      break;
    }
    case 3: { // RCR
      const k = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
      let cf = getCF();
      const ovf = signBit(r, size) ^ cf; // defined for k == 1: computed before the rotation
      for (let i: u32 = 0; i < k; i++) {
        const out = r & 1;
        r = (r >> 1) | (cf << <u64>(bits - 1));
        cf = out;
      }
      rotateFlags(cf, ovf);
      break;
    }
    case 4: case 6: { // SHL/SAL
      r = c >= 64 ? 0 : (a << c) & m;
      const cf = c > <u64>bits ? 0 : (a >> (<u64>bits - c)) & 1;
      shiftFlags(r, size, cf, signBit(r, size) ^ cf);
      break;
    }
    case 5: { // SHR
      r = a >> c;
      shiftFlags(r, size, (a >> (c - 1)) & 1, signBit(a, size));
      break;
    }
    default: { // SAR
      const s = sext(a, size);
      r = <u64>(<i64>s >> <i64>(c > 63 ? 63 : c)) & m;
      shiftFlags(r, size, <u64>(<i64>s >> <i64>(c - 1)) & 1, 0);
      break;
    }
  }
  if (isReg(d)) writeE(d, size, r); else writeV(va, size, r);
}

/**
 * 0F A4/A5 SHLD and 0F AC/AD SHRD Ev, Gv, imm8/CL (SDM Vol. 2, SHLD and SHRD). The count is
 * masked to 5 bits (6 with REX.W); a count of 0 changes nothing. A 16-bit count above 16 has an
 * undefined result: it is computed here as a shift of the 48-bit dest:src:dest.
 */
export function shxd(d: usize): void {
  const size = dOsize(d);
  const opc = dOpcode(d);
  const left = opc < 0x1ac;
  let count: u32 = (opc & 1) != 0 ? <u32>reg64(RCX) & 0xff : <u32>dImm(d) & 0xff;
  count &= size == 8 ? 0x3f : 0x1f;
  const va = isReg(d) ? 0 : rmwEa(d, size);
  const a = isReg(d) ? readE(d, size) : readV(va, size);
  const b = readG(d, size);
  if (count == 0) {
    if (isReg(d) && size == 4) writeE(d, 4, a);
    return;
  }
  const bits = <u64>(size * 8);
  const m = sizeMask(size);
  const c = <u64>count;
  let r: u64, cf: u64;
  if (size == 2 && c > 16) {
    const wide = (a << 32) | (b << 16) | a;
    r = left ? (wide << c >> 32) & m : (wide >> c) & m;
    cf = left ? (wide >> (48 - c)) & 1 : (wide >> (c - 1)) & 1;
  } else if (left) {
    r = c == bits ? b : ((a << c) | (b >> (bits - c))) & m;
    cf = (a >> (bits - c)) & 1;
  } else {
    r = c == bits ? b : ((a >> c) | (b << (bits - c))) & m;
    cf = (a >> (c - 1)) & 1;
  }
  if (isReg(d)) writeE(d, size, r); else writeV(va, size, r);
  // OF is defined for a 1-bit shift: set when the sign changed.
  setArith(cf, parity(r), 0, <u64>(r == 0), signBit(r, size), signBit(r ^ a, size));
}
