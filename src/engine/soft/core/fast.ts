// Specialised executors for the forms that dominate real code: register and simple memory
// forms of MOV, the ALU operations, TEST, INC/DEC at 32 and 64 bits, and PUSH/POP/CALL/RET
// in 64-bit mode. A stack form whose access misses the TLB fast path, or that would fault,
// runs the general executor, which raises the fault precisely. The decoder
// picks one (specialize) when the decoded instruction fits it, so the executor knows its
// operand size and kinds without testing them; every other case runs the general executor of
// the form. Their behaviour is the general executors', which the differential test checks.

import { D_REG, D_RM, D_OPCODE, D_IMM, RM_MEM } from './decode';
import { ea } from './operands';
import { readV, writeV, readPtr, writePtr, canonical } from './mmu';
import { pushZ, popZ, callRel, retNear } from './branch';
import { alu } from './alu';
import { setLazy, setLazyIncDec, LF_LOGIC, LF_INC, LF_DEC, LF_SHIFT } from './flags';
import { regN, setRegN, reg64, setReg64, mode, nextRip, RSP, RCX } from './state';
import { sizeMask } from './bits';
import {
  H_movRR64, H_movRR32, H_movLoad64, H_movLoad32, H_movStore64, H_movStore32,
  H_addRR64, H_addRR32, H_aluLoad64, H_aluLoad32, H_addRI64, H_addRI32, H_jcc, H_jz64, H_jnz64,
  H_testRR64, H_testRR32, H_incDecR64, H_incDecR32, H_pushR64, H_popR64, H_callRel64,
  H_ret64, H_movEG, H_movGE, H_aluEG, H_aluGE, H_aluEI, H_testEG, H_incDec, H_pushZ, H_popZ,
  H_callRel, H_retNear, H_shiftGrp, H_shiftR64, H_shiftR32, H_movzxb, H_movzxbLoad,
} from './gen/table';

const OP_CMP: u32 = 7;

@inline function reg(d: usize): u32 { return <u32>load<u8>(d, D_REG); }
@inline function rm(d: usize): u32 { return <u32>load<u8>(d, D_RM); }
@inline function opcode(d: usize): u32 { return <u32>load<u16>(d, D_OPCODE); }

/**
 * The specialised executor for a decoded instruction, or `handler` itself. `size` is the
 * operand size, `rmReg` the decoded ModRM.rm register (RM_MEM for memory), `regField` ModRM.reg.
 */
export function specialize(
  handler: u32, size: u32, rmReg: u32, regField: u32, opcodeIn: u32,
): u32 {
  if (size < 4) return handler;
  if (mode == 64 && size == 8) {
    if (handler == H_pushZ) return H_pushR64;
    if (handler == H_popZ) return H_popR64;
    if (handler == H_callRel) return H_callRel64;
    if (handler == H_retNear && opcodeIn == 0xc3) return H_ret64;
  }
  // Jcc has a 64-bit operand size in 64-bit mode; JE and JNE have their own executors.
  if (mode == 64 && handler == H_jcc && (opcodeIn & 14) == 4) {
    return (opcodeIn & 1) != 0 ? H_jnz64 : H_jz64;
  }
  const wide = size == 8;
  const isMem = rmReg == RM_MEM;
  if (handler == H_movEG) return isMem ? (wide ? H_movStore64 : H_movStore32) : (wide ? H_movRR64 : H_movRR32);
  if (handler == H_movGE) return isMem ? (wide ? H_movLoad64 : H_movLoad32) : (wide ? H_movRR64 : H_movRR32);
  if (handler == H_movzxb && isMem) return H_movzxbLoad;
  // The ALU groups are eight consecutive ids in operation order (fast_alu.ts).
  const op = (opcodeIn >> 3) & 7;
  if (handler == H_aluGE) return isMem ? (wide ? H_aluLoad64 : H_aluLoad32) : (wide ? H_addRR64 : H_addRR32) + op;
  if (isMem) return handler;
  if (handler == H_aluEG) return (wide ? H_addRR64 : H_addRR32) + op;
  if (handler == H_aluEI) return (wide ? H_addRI64 : H_addRI32) + (regField & 7);
  if (handler == H_testEG) return wide ? H_testRR64 : H_testRR32;
  if (handler == H_incDec && (regField & 7) < 2) return wide ? H_incDecR64 : H_incDecR32;
  if (handler == H_shiftGrp && (regField & 7) >= 4) return wide ? H_shiftR64 : H_shiftR32;
  return handler;
}

// MOV: 89 (Ev, Gv) and 8B (Gv, Ev).
@inline function movRR(d: usize, size: u32): void {
  const toRm = (opcode(d) & 2) == 0;
  setRegN(toRm ? rm(d) : reg(d), size, regN(toRm ? reg(d) : rm(d), size));
}
export function movRR64(d: usize): void { movRR(d, 8); }
export function movRR32(d: usize): void { movRR(d, 4); }
export function movLoad64(d: usize): void { setRegN(reg(d), 8, readV(ea(d), 8)); }
export function movLoad32(d: usize): void { setRegN(reg(d), 4, readV(ea(d), 4)); }
export function movStore64(d: usize): void { writeV(ea(d), 8, regN(reg(d), 8)); }
export function movStore32(d: usize): void { writeV(ea(d), 4, regN(reg(d), 4)); }

// 0F B6 MOVZX r32/r64, byte [mem]: both sizes write the zero-extended byte to all 64 bits.
export function movzxbLoad(d: usize): void { setReg64(reg(d), readV(ea(d), 1)); }

// ALU op Gv, [mem].
@inline function aluLoad(d: usize, size: u32): void {
  const op = (opcode(d) >> 3) & 7;
  const r = alu(op, regN(reg(d), size), readV(ea(d), size), size);
  if (op != OP_CMP) setRegN(reg(d), size, r);
}
export function aluLoad64(d: usize): void { aluLoad(d, 8); }
export function aluLoad32(d: usize): void { aluLoad(d, 4); }

// 85 with a register operand.
@inline function testRR(d: usize, size: u32): void {
  const a = regN(rm(d), size);
  const b = regN(reg(d), size);
  setLazy(LF_LOGIC, size, a, b, a & b);
}
export function testRR64(d: usize): void { testRR(d, 8); }
export function testRR32(d: usize): void { testRR(d, 4); }

// FF /0 and /1 on a register.
@inline function incDecR(d: usize, size: u32): void {
  const dec = (reg(d) & 7) == 1;
  const a = regN(rm(d), size);
  const r = (dec ? a - 1 : a + 1) & sizeMask(size);
  setRegN(rm(d), size, r);
  setLazyIncDec(dec ? LF_DEC : LF_INC, size, a, r);
}
export function incDecR64(d: usize): void { incDecR(d, 8); }
export function incDecR32(d: usize): void { incDecR(d, 4); }

// SHL/SAL, SHR, SAR (C0/C1/D0–D3 /4–/7) on a register.
@inline function shiftR(d: usize, size: u32): void {
  const op = reg(d) & 7;
  const opc = opcode(d);
  const raw = opc >= 0xd2 ? <u32>reg64(RCX) : opc >= 0xd0 ? 1 : <u32>load<u64>(d, D_IMM);
  const count = raw & (size == 8 ? 0x3f : 0x1f);
  const a = regN(rm(d), size);
  if (count == 0) {
    // No flags change, but a 32-bit register is still written (zero-extended).
    if (size == 4) setRegN(rm(d), 4, a);
    return;
  }
  const c = <u64>count;
  const top = <u64>(size * 8 - 1);
  let r: u64, cf: u64, ovf: u64;
  if (op == 5) {
    r = a >> c;
    cf = (a >> (c - 1)) & 1;
    ovf = a >> top;
  } else if (op == 7) {
    const s = size == 8 ? <i64>a : <i64>(<i32>a);
    r = <u64>(s >> <i64>c) & sizeMask(size);
    cf = <u64>(s >> <i64>(c - 1)) & 1;
    ovf = 0;
  } else {
    r = (a << c) & sizeMask(size);
    cf = (a >> (top + 1 - c)) & 1;
    ovf = (r >> top) ^ cf;
  }
  setRegN(rm(d), size, r);
  setLazy(LF_SHIFT, size, cf, ovf, r);
}
export function shiftR64(d: usize): void { shiftR(d, 8); }
export function shiftR32(d: usize): void { shiftR(d, 4); }

// The stack in 64-bit mode: SS has base 0, RSP is the address. POP RSP keeps the popped value.
export function pushR64(d: usize): void {
  const sp = reg64(RSP) - 8;
  const h = writePtr(sp, 8);
  if (h == 0) { pushZ(d); return; }
  store<u64>(h, regN(reg(d), 8));
  setReg64(RSP, sp);
}

export function popR64(d: usize): void {
  const sp = reg64(RSP);
  const h = readPtr(sp, 8);
  if (h == 0) { popZ(d); return; }
  setReg64(RSP, sp + 8);
  setReg64(reg(d), load<u64>(h));
}

export function callRel64(d: usize): void {
  const sp = reg64(RSP) - 8;
  const h = writePtr(sp, 8);
  const t = nextRip + load<u64>(d, D_IMM);
  if (h == 0 || !canonical(t)) { callRel(d); return; }
  store<u64>(h, nextRip);
  setReg64(RSP, sp);
  nextRip = t;
}

export function ret64(d: usize): void {
  const sp = reg64(RSP);
  const h = readPtr(sp, 8);
  if (h == 0) { retNear(d); return; }
  const t = load<u64>(h);
  if (!canonical(t)) { retNear(d); return; }
  setReg64(RSP, sp + 8);
  nextRip = t;
}
