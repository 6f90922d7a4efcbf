// Specialised ALU executors, one per operation, operand size and operand shape, so that the
// operation's flags recipe is fixed at decode time: op r, r (01/03/09/0B … 39/3B with a register
// r/m) and op r, imm (81/83 with a register r/m), at 64 and 32 bits; and the conditional jumps
// on ZF, the commonest after CMP/TEST/SUB, in 64-bit mode. The ids of each group of eight are
// consecutive in ALU-operation order (ADD OR ADC SBB AND SUB XOR CMP), so the decoder picks one
// as the group's first id plus the operation (fast.ts).

import { D_REG, D_RM, D_OPCODE, D_IMM } from './decode';
import { alu } from './alu';
import { getZF } from './flags';
import { regN, setRegN, nextRip, setNextRip } from './state';
import { canonical } from './mmu';
import { jcc } from './branch';

const OP_CMP: u32 = 7;

@inline function aluRR(d: usize, op: u32, size: u32): void {
  const toReg = (<u32>load<u16>(d, D_OPCODE) & 2) != 0;
  const g = <u32>load<u8>(d, D_REG), e = <u32>load<u8>(d, D_RM);
  const dst = toReg ? g : e;
  const r = alu(op, regN(dst, size), regN(toReg ? e : g, size), size);
  if (op != OP_CMP) setRegN(dst, size, r);
}

@inline function aluRI(d: usize, op: u32, size: u32): void {
  const dst = <u32>load<u8>(d, D_RM);
  const r = alu(op, regN(dst, size), load<u64>(d, D_IMM), size);
  if (op != OP_CMP) setRegN(dst, size, r);
}

export function addRR64(d: usize): void { aluRR(d, 0, 8); }
export function orRR64(d: usize): void { aluRR(d, 1, 8); }
export function adcRR64(d: usize): void { aluRR(d, 2, 8); }
export function sbbRR64(d: usize): void { aluRR(d, 3, 8); }
export function andRR64(d: usize): void { aluRR(d, 4, 8); }
export function subRR64(d: usize): void { aluRR(d, 5, 8); }
export function xorRR64(d: usize): void { aluRR(d, 6, 8); }
export function cmpRR64(d: usize): void { aluRR(d, 7, 8); }
export function addRR32(d: usize): void { aluRR(d, 0, 4); }
export function orRR32(d: usize): void { aluRR(d, 1, 4); }
export function adcRR32(d: usize): void { aluRR(d, 2, 4); }
export function sbbRR32(d: usize): void { aluRR(d, 3, 4); }
export function andRR32(d: usize): void { aluRR(d, 4, 4); }
export function subRR32(d: usize): void { aluRR(d, 5, 4); }
export function xorRR32(d: usize): void { aluRR(d, 6, 4); }
export function cmpRR32(d: usize): void { aluRR(d, 7, 4); }
export function addRI64(d: usize): void { aluRI(d, 0, 8); }
export function orRI64(d: usize): void { aluRI(d, 1, 8); }
export function adcRI64(d: usize): void { aluRI(d, 2, 8); }
export function sbbRI64(d: usize): void { aluRI(d, 3, 8); }
export function andRI64(d: usize): void { aluRI(d, 4, 8); }
export function subRI64(d: usize): void { aluRI(d, 5, 8); }
export function xorRI64(d: usize): void { aluRI(d, 6, 8); }
export function cmpRI64(d: usize): void { aluRI(d, 7, 8); }
export function addRI32(d: usize): void { aluRI(d, 0, 4); }
export function orRI32(d: usize): void { aluRI(d, 1, 4); }
export function adcRI32(d: usize): void { aluRI(d, 2, 4); }
export function sbbRI32(d: usize): void { aluRI(d, 3, 4); }
export function andRI32(d: usize): void { aluRI(d, 4, 4); }
export function subRI32(d: usize): void { aluRI(d, 5, 4); }
export function xorRI32(d: usize): void { aluRI(d, 6, 4); }
export function cmpRI32(d: usize): void { aluRI(d, 7, 4); }

// JE/JZ and JNE/JNZ (74/75, 0F 84/85) in 64-bit mode; a non-canonical target takes the
// general executor, which raises #GP(0).
@inline function jumpIf(d: usize, taken: bool): void {
  if (!taken) return;
  const t = nextRip + load<u64>(d, D_IMM);
  if (!canonical(t)) { jcc(d); return; }
  setNextRip(t);
}
export function jz64(d: usize): void { jumpIf(d, getZF() != 0); }
export function jnz64(d: usize): void { jumpIf(d, getZF() == 0); }
