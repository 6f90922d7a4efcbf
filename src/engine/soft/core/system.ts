// Port I/O, HLT, flag instructions (including SAHF/LAHF), CPUID and UD2 (SDM Vol. 2).

import { dOsize, dImm, dOpcode } from './decode';
import { getReg, putReg } from './operands';
import { getFlags, setFlags, setFlagBit, getCF, FL_CF, FL_IF, FL_DF } from './flags';
import { raiseGP, raiseUD } from './exceptions';
import { cpl, icount, RAX, RDX, regN, setRegN } from './state';
import { cpuid as cpuidLeaf } from './cpuid';
import { STOP_HLT, requestStop, setShadow } from './control';

@external('env', 'pioRead') declare function pioRead(port: u32, size: u32): u32;
@external('env', 'pioWrite') declare function pioWrite(port: u32, size: u32, value: u32): void;

@inline function iopl(): u32 { return <u32>(getFlags() >> 12) & 3; }

/** IN/OUT need CPL ≤ IOPL; the TSS I/O permission bitmap is not consulted (no guest sets one). */
function checkIo(): void {
  if (cpl > iopl()) raiseGP(0);
}

/** Port number: imm8 for E4–E7, DX otherwise. */
@inline function port(d: usize): u32 {
  return dOpcode(d) < 0xe8 ? <u32>dImm(d) & 0xff : <u32>regN(RDX, 2);
}

/** Port accesses are at most 32 bits wide; REX.W does not widen them. */
@inline function ioSize(d: usize): u32 {
  const s = dOsize(d);
  return s == 8 ? 4 : s;
}

export function inPort(d: usize): void {
  checkIo();
  const size = ioSize(d);
  putReg(d, RAX, size, <u64>pioRead(port(d), size));
}

export function outPort(d: usize): void {
  checkIo();
  const size = ioSize(d);
  pioWrite(port(d), size, <u32>getReg(d, RAX, size));
}

export function hlt(d: usize): void {
  if (cpl != 0) raiseGP(0);
  requestStop(STOP_HLT);
}

/** F5 CMC, F8 CLC, F9 STC, FA CLI, FB STI, FC CLD, FD STD. */
export function flagOp(d: usize): void {
  switch (dOpcode(d)) {
    case 0xf5: setFlagBit(FL_CF, getCF() == 0); break;
    case 0xf8: setFlagBit(FL_CF, false); break;
    case 0xf9: setFlagBit(FL_CF, true); break;
    case 0xfa: if (cpl > iopl()) raiseGP(0); setFlagBit(FL_IF, false); break;
    case 0xfb:
      if (cpl > iopl()) raiseGP(0);
      // STI blocks interrupts until after the next instruction (SDM STI) if IF was 0.
      if ((getFlags() & FL_IF) == 0) setShadow(icount + 1);
      setFlagBit(FL_IF, true);
      break;
    case 0xfc: setFlagBit(FL_DF, false); break;
    default: setFlagBit(FL_DF, true); break;
  }
}

export function cpuid(d: usize): void { cpuidLeaf(); }

export function ud(d: usize): void { raiseUD(); }

/** An instruction longer than 15 bytes (SDM Vol. 2, 2.3.11). */
export function tooLong(d: usize): void { raiseGP(0); }

/** 9E: SAHF loads SF, ZF, AF, PF and CF from AH (valid in 64-bit mode: CPUID has LAHF_LM). */
export function sahf(d: usize): void {
  const ah = (regN(RAX, 2) >> 8) & 0xd5;
  setFlags((getFlags() & ~<u64>0xd5) | ah);
}

/** 9F: LAHF stores SF:ZF:0:AF:0:PF:1:CF in AH. */
export function lahf(d: usize): void {
  const f = (getFlags() & 0xd5) | 2;
  setRegN(RAX, 2, (regN(RAX, 2) & 0xff) | (f << 8));
}
