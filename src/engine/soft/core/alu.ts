// Integer arithmetic executors: the eight ALU operations, TEST, INC/DEC, NOT/NEG
// (SDM Vol. 2, instruction pages of the same names). Flags are recorded lazily (flags.ts).

import { dOsize, dOpcode, dImm, dReg } from './decode';
import { readE, writeE, readG, writeG, isReg, ea, rmwEa, getReg, putReg } from './operands';
import { readV, writeV } from './mmu';
import {
  setLazy,
  setLazyIncDec,
  getCF,
  lfCin,
  LF_ADD,
  LF_ADC,
  LF_SUB,
  LF_SBB,
  LF_LOGIC,
  LF_INC,
  LF_DEC,
} from './flags';
import { sizeMask } from './bits';
import { locked, atomicPtr, loadAtomic, casAtomic } from './atomic';
import { getFlags, setFlags } from './flags';
import { RAX } from './state';

const OP_ADC: u32 = 2;
const OP_SBB: u32 = 3;
const OP_CMP: u32 = 7;

/** Computes ALU operation `op` (ADD OR ADC SBB AND SUB XOR CMP) and records its flags. */
@inline export function alu(op: u32, a: u64, b: u64, size: u32): u64 {
  const m = sizeMask(size);
  b &= m;
  let r: u64;
  switch (op) {
    case 0:
      r = (a + b) & m;
      setLazy(LF_ADD, size, a, b, r);
      break;
    case 1:
      r = a | b;
      setLazy(LF_LOGIC, size, a, b, r);
      break;
    case OP_ADC: {
      const c = getCF();
      r = (a + b + c) & m;
      lfCin = c;
      setLazy(LF_ADC, size, a, b, r);
      break;
    }
    case OP_SBB: {
      const c = getCF();
      r = (a - b - c) & m;
      lfCin = c;
      setLazy(LF_SBB, size, a, b, r);
      break;
    }
    case 4:
      r = a & b;
      setLazy(LF_LOGIC, size, a, b, r);
      break;
    case 6:
      r = a ^ b;
      setLazy(LF_LOGIC, size, a, b, r);
      break;
    default:
      r = (a - b) & m;
      setLazy(LF_SUB, size, a, b, r);
      break; // SUB, CMP
  }
  return r;
}

/** ALU op with a memory or register destination and source `b`. */
@inline function aluToE(d: usize, op: u32, b: u64): void {
  const size = dOsize(d);
  if (isReg(d)) {
    const r = alu(op, readE(d, size), b, size);
    if (op != OP_CMP) writeE(d, size, r);
    return;
  }
  // One linear address for the read and the write of a read-modify-write.
  const va = op == OP_CMP ? ea(d) : rmwEa(d, size);
  if (locked(d)) {
    const h = atomicPtr(va, size);
    if (h != 0) {
      lockedAlu(h, op, b, size, getFlags());
      return;
    }
  }
  const r = alu(op, readV(va, size), b, size);
  if (op != OP_CMP) writeV(va, size, r);
}

/**
 * The compare-and-swap loop of a LOCK'd ALU operation on host address `h`; each attempt
 * starts from the flags the instruction found (ADC and SBB read CF).
 */
function lockedAlu(h: usize, op: u32, b: u64, size: u32, flags: u64): void {
  for (;;) {
    setFlags(flags);
    const a = loadAtomic(h, size);
    if (casAtomic(h, size, a, alu(op, a, b, size))) return;
  }
}

/** 00–3D: op Eb/Ev, Gb/Gv. */
export function aluEG(d: usize): void {
  aluToE(d, (dOpcode(d) >> 3) & 7, readG(d, dOsize(d)));
}

/** op Gb/Gv, Eb/Ev. */
export function aluGE(d: usize): void {
  const size = dOsize(d);
  const op = (dOpcode(d) >> 3) & 7;
  const r = alu(op, readG(d, size), readE(d, size), size);
  if (op != OP_CMP) writeG(d, size, r);
}

/** op AL/rAX, imm. */
export function aluAI(d: usize): void {
  const size = dOsize(d);
  const op = (dOpcode(d) >> 3) & 7;
  const r = alu(op, getReg(d, RAX, size), dImm(d), size);
  if (op != OP_CMP) putReg(d, RAX, size, r);
}

/** 80/81/83 /op: op Eb/Ev, imm. */
export function aluEI(d: usize): void {
  aluToE(d, dReg(d) & 7, dImm(d));
}

function test(a: u64, b: u64, size: u32): void {
  setLazy(LF_LOGIC, size, a, b, a & b & sizeMask(size));
}

export function testEG(d: usize): void {
  const size = dOsize(d);
  test(readE(d, size), readG(d, size), size);
}

export function testEI(d: usize): void {
  const size = dOsize(d);
  test(readE(d, size), dImm(d), size);
}

export function testAI(d: usize): void {
  const size = dOsize(d);
  test(getReg(d, RAX, size), dImm(d), size);
}

/** FE/FF /0 and /1. */
export function incDec(d: usize): void {
  const size = dOsize(d);
  const dec = (dReg(d) & 7) == 1;
  const m = sizeMask(size);
  const va = isReg(d) ? 0 : rmwEa(d, size);
  const h = !isReg(d) && locked(d) ? atomicPtr(va, size) : 0;
  let a: u64, r: u64;
  if (h != 0) {
    do {
      a = loadAtomic(h, size);
      r = (dec ? a - 1 : a + 1) & m;
    } while (!casAtomic(h, size, a, r));
  } else {
    a = isReg(d) ? readE(d, size) : readV(va, size);
    r = (dec ? a - 1 : a + 1) & m;
    if (isReg(d)) writeE(d, size, r);
    else writeV(va, size, r);
  }
  setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, r);
}

/** 40+r INC and 48+r DEC (outside 64-bit mode): flags as FE/FF /0 /1. */
export function incDecZ(d: usize): void {
  const size = dOsize(d);
  const r = dReg(d);
  const dec = (dOpcode(d) & 8) != 0;
  const a = getReg(d, r, size);
  const v = (dec ? a - 1 : a + 1) & sizeMask(size);
  putReg(d, r, size, v);
  setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, v);
}

/** F6/F7 /2. NOT changes no flags. */
export function notE(d: usize): void {
  const size = dOsize(d);
  if (isReg(d)) {
    writeE(d, size, ~readE(d, size) & sizeMask(size));
    return;
  }
  const va = rmwEa(d, size);
  const h = locked(d) ? atomicPtr(va, size) : 0;
  if (h != 0) {
    let a: u64;
    do a = loadAtomic(h, size); while (!casAtomic(h, size, a, ~a & sizeMask(size)));
    return;
  }
  writeV(va, size, ~readV(va, size) & sizeMask(size));
}

/** F6/F7 /3: flags as for 0 - a. */
export function negE(d: usize): void {
  const size = dOsize(d);
  const va = isReg(d) ? 0 : rmwEa(d, size);
  const h = !isReg(d) && locked(d) ? atomicPtr(va, size) : 0;
  let a: u64, r: u64;
  if (h != 0) {
    do {
      a = loadAtomic(h, size);
      r = (0 - a) & sizeMask(size);
    } while (!casAtomic(h, size, a, r));
  } else {
    a = isReg(d) ? readE(d, size) : readV(va, size);
    r = (0 - a) & sizeMask(size);
    if (isReg(d)) writeE(d, size, r);
    else writeV(va, size, r);
  }
  setLazy(LF_SUB, size, 0, a, r);
}
