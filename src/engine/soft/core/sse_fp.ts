// SSE/SSE2 floating-point arithmetic and comparisons (SDM Vol. 2, ADDPS … UCOMISD): ADD, SUB,
// MUL, DIV, MIN, MAX and SQRT in their PS, PD, SS and SD forms, CMPPS/CMPPD/CMPSS/CMPSD and
// COMISS/COMISD/UCOMISS/UCOMISD. The lanes go through fp.ts and fp_arith.ts, which apply
// MXCSR's rounding, DAZ and FTZ and collect the exception flags; fpCommit() then sets them or
// raises #XM, before anything is written. Packed forms take 16-byte-aligned memory operands,
// scalar forms any. The executors, which call floatOp() and comis(), are in sse_float.ts.

import { dImm, dOpcode } from './decode';
import { setArith } from './flags';
import { sseCheck, xmmG, readW, readW32, readW64 } from './sse';
import {
  fpBegin, fpCommit, preFlag, isNaN, isSNaN, source, sawDenormal, clearDenormal, MX_IE, MX_DE,
  OP_DIV,
} from './fp';
import { arith32, arith64, sqrt32, sqrt64 } from './fp_arith';

/** Scratch for a source operand and a result, lane by lane. */
const SRC: usize = memory.data(16, 16);
const RES: usize = memory.data(16, 16);

// Operations by the low opcode byte: 58 ADD, 59 MUL, 5C SUB, 5D MIN, 5E DIV, 5F MAX.
const OP_MIN: u32 = 4;
const OP_MAX: u32 = 5;
const OP_BY_OPCODE: StaticArray<u8> = [0, 2, 0, 0, 1, 4, 3, 5];

// What floatOp() does: the shape (packed or scalar, single or double) and the operation.
export const DOUBLE: u32 = 1;
export const SCALAR: u32 = 2;
export const ARITH: u32 = 0;
export const SQRT: u32 = 4;
export const CMP: u32 = 8;

/** The value of a lane as binary64 (binary32 widens exactly). */
@inline function asF64(x: u64, f: u32): f64 {
  return f != 0 ? reinterpret<f64>(x) : <f64>reinterpret<f32>(<u32>x);
}

/**
 * MIN/MAX: the second operand when either is a NaN (IE even for a QNaN) or both are zeros of
 * either sign; denormals read as zero under DAZ, and the result is then that zero (also when
 * the other operand is a NaN).
 */
function minMax(op: u32, a: u64, b: u64, f: u32): u64 {
  clearDenormal();
  a = source(a, f);
  b = source(b, f);
  if (isNaN(a, f) || isNaN(b, f)) {
    preFlag(MX_IE);
    return b;
  }
  if (sawDenormal()) preFlag(MX_DE);
  const x = asF64(a, f), y = asF64(b, f);
  if (op == OP_MIN) return x < y ? a : b;
  return x > y ? a : b;
}

/**
 * One lane of CMPPS … CMPSD with predicate imm8[2:0] (legacy SSE ignores the other bits):
 * EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD. A NaN operand makes the operands unordered, and raises
 * IE for an SNaN, or for any NaN under the signalling predicates LT, LE, NLT and NLE.
 */
function compare(pred: u32, a: u64, b: u64, f: u32): bool {
  if (isNaN(a, f) || isNaN(b, f)) {
    const signalling = (pred & 3) == 1 || (pred & 3) == 2;
    if (signalling || isSNaN(a, f) || isSNaN(b, f)) preFlag(MX_IE);
    return pred - 3 < 4;
  }
  clearDenormal();
  const x = asF64(source(a, f), f), y = asF64(source(b, f), f);
  if (sawDenormal()) preFlag(MX_DE);
  switch (pred) {
    case 0: return x == y;
    case 1: return x < y;
    case 2: return x <= y;
    case 3: return false;
    case 4: return x != y;
    case 5: return !(x < y);
    case 6: return !(x <= y);
    default: return true;
  }
}

/** One lane: destination `a`, source `b`, format `f`. */
function lane(what: u32, op: u32, a: u64, b: u64, f: u32): u64 {
  if ((what & CMP) != 0) return compare(op, a, b, f) ? <u64>-1 : 0;
  if ((what & SQRT) != 0) return f != 0 ? sqrt64(b) : <u64>sqrt32(<u32>b);
  if (op > OP_DIV) return minMax(op, a, b, f);
  return f != 0 ? arith64(op, a, b) : <u64>arith32(op, <u32>a, <u32>b);
}

/**
 * ADD … SQRT and CMP in every form (`what`): reads the source (xmm/m128 aligned, or m32/m64
 * for a scalar form), computes the lanes into RES, commits the exceptions, then writes the
 * lanes (a scalar form keeps the destination's other lanes).
 */
export function floatOp(d: usize, what: u32): void {
  sseCheck();
  const f = what & DOUBLE;
  const width: usize = f != 0 ? 8 : 4;
  if ((what & SCALAR) == 0) v128.store(SRC, readW(d, true));
  else if (f != 0) store<u64>(SRC, readW64(d));
  else store<u32>(SRC, readW32(d));
  const p = xmmG(d);
  const op = (what & CMP) != 0 ? <u32>dImm(d) & 7 : <u32>unchecked(OP_BY_OPCODE[dOpcode(d) & 7]);
  const n: usize = (what & SCALAR) != 0 ? width : 16;
  fpBegin();
  for (let i: usize = 0; i < n; i += width) {
    if (f != 0) store<u64>(RES + i, lane(what, op, load<u64>(p + i), load<u64>(SRC + i), 1));
    else store<u32>(RES + i, <u32>lane(what, op, load<u32>(p + i), load<u32>(SRC + i), 0));
  }
  fpCommit();
  if (n == 16) v128.store(p, v128.load(RES));
  else if (f != 0) store<u64>(p, load<u64>(RES));
  else store<u32>(p, load<u32>(RES));
}

/**
 * COMISS/COMISD (0F 2F) and UCOMISS/UCOMISD (0F 2E): ZF, PF, CF = 111 unordered, 000 greater,
 * 001 less, 100 equal; OF, SF and AF cleared. COMIS raises IE for any NaN, UCOMIS for an SNaN.
 * An unmasked exception leaves RFLAGS unchanged.
 */
export function comis(d: usize, f: u32): void {
  sseCheck();
  const b = f != 0 ? readW64(d) : <u64>readW32(d);
  const p = xmmG(d);
  const a = f != 0 ? load<u64>(p) : <u64>load<u32>(p);
  fpBegin();
  let zf: u64 = 0, pf: u64 = 0, cf: u64 = 0;
  if (isNaN(a, f) || isNaN(b, f)) {
    if ((dOpcode(d) & 0xff) == 0x2f || isSNaN(a, f) || isSNaN(b, f)) preFlag(MX_IE);
    zf = 1;
    pf = 1;
    cf = 1;
  } else {
    clearDenormal();
    const x = asF64(source(a, f), f), y = asF64(source(b, f), f);
    if (sawDenormal()) preFlag(MX_DE);
    if (x < y) cf = 1;
    else if (x == y) zf = 1;
  }
  fpCommit();
  setArith(cf, pf, 0, zf, 0, 0);
}

