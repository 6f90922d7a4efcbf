// The x87 instructions the engine implements (SDM Vol. 1, chapter 8; Vol. 2, the instruction
// pages): the control instructions that Linux and glibc run (FNINIT, FNCLEX, FLDCW, FNSTCW,
// FNSTSW, FWAIT), EMMS, and FILD, which Linux executes before each FXRSTOR on AMD CPUs that
// do not advertise XSaveErPtr. Every other x87 opcode raises #UD. The state lives in the
// FXSAVE image (sse.ts). x87 exceptions are deferred as on the CPU: an unmasked one sets
// FSW.ES, and the next waiting x87 instruction raises #MF.

import { FXAREA } from './layout';
import { dOpcode, D_MODRM, D_REG } from './decode';
import { ea, offsetOf } from './operands';
import { readV, writeV } from './mmu';
import { raise, raiseUD, NO_ERROR_CODE, EXC_NM } from './exceptions';
import { rip, cr0, RAX, setRegN } from './state';
import { sext } from './bits';
import {
  fpuCheck, waitCheck, isMem, fcw, fsw, setFsw, normalFcw, normalFsw, EXC_MF, FCW_RESET, FXBUF,
  FX_FCW, FX_FTW, FX_FOP, FX_FIP, FX_FDP, FX_ST,
} from './sse';

// FSW bits.
const FSW_IE: u32 = 1 << 0;
const FSW_SF: u32 = 1 << 6;
const FSW_ES: u32 = 1 << 7;
const FSW_C1: u32 = 1 << 9;
const FSW_TOP_SHIFT: u32 = 11;
const FSW_TOP: u32 = 7 << FSW_TOP_SHIFT;
const FSW_B: u32 = 1 << 15;
/** FCW.IM: invalid-operation exceptions masked. */
const FCW_IM: u32 = 1;

const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;

/** A waiting x87 instruction first raises #MF for a pending unmasked exception (FSW.ES). */
@inline function pendingCheck(): void {
  if ((fsw() & FSW_ES) != 0) raise(EXC_MF, NO_ERROR_CODE);
}

/** 9B: WAIT/FWAIT. */
export function fwait(d: usize): void {
  waitCheck();
  pendingCheck();
}

/**
 * D9 /5: FLDCW m16 (reserved bits normalised as FXRSTOR does). Unmasking an exception whose
 * flag is set makes it pending (ES and B set); masking every set one clears them.
 */
export function fldcw(d: usize): void {
  fpuCheck();
  pendingCheck();
  const cw = normalFcw(<u32>readV(ea(d), 2));
  store<u16>(FXAREA + FX_FCW, <u16>cw);
  setFsw(normalFsw(fsw(), cw));
}

/** D9 /7: FNSTCW m16. */
export function fnstcw(d: usize): void {
  fpuCheck();
  writeV(ea(d), 2, <u64>fcw());
}

/** DD /7: FNSTSW m16; DF E0: FNSTSW AX. */
export function fnstsw(d: usize): void {
  fpuCheck();
  if (isMem(d)) writeV(ea(d), 2, <u64>fsw());
  else setRegN(RAX, 2, <u64>fsw());
}

/** DB E2: FNCLEX clears the exception flags, ES and B (C0–C3 are left as they are). */
export function fnclex(d: usize): void {
  fpuCheck();
  setFsw(fsw() & ~(0xff | FSW_B));
}

/**
 * Sets FSW.TOP. The image holds the registers in stack order, so it turns with TOP: ST(i)
 * becomes the physical register ST(i) named before, shifted by the change.
 */
function setTop(newTop: u32): void {
  const f = fsw();
  const k = (newTop - (f >> FSW_TOP_SHIFT)) & 7;
  if (k != 0) {
    // New ST(i) = old ST((i + k) & 7).
    const st = FXAREA + FX_ST;
    memory.copy(FXBUF, st, 128);
    memory.copy(st, FXBUF + (<usize>k << 4), <usize>(8 - k) << 4);
    memory.copy(st + (<usize>(8 - k) << 4), FXBUF, <usize>k << 4);
  }
  setFsw((f & ~FSW_TOP) | (newTop << FSW_TOP_SHIFT));
}

/** DB E3: FNINIT. The register contents stay (TOP = 0); every tag becomes empty. */
export function fninit(d: usize): void {
  fpuCheck();
  setTop(0);
  store<u64>(FXAREA + FX_FCW, <u64>FCW_RESET); // FCW, FSW = 0, FTW = all empty, FOP = 0
  store<u64>(FXAREA + FX_FIP, 0);
  store<u64>(FXAREA + FX_FDP, 0);
}

/**
 * 0F 77: EMMS marks every x87 register empty and, like every MMX instruction, sets TOP to 0.
 * An MMX instruction: #UD when CR0.EM = 1.
 */
export function emms(d: usize): void {
  if ((cr0 & CR0_EM) != 0) raiseUD();
  if ((cr0 & CR0_TS) != 0) raise(EXC_NM, NO_ERROR_CODE);
  pendingCheck();
  setTop(0);
  store<u8>(FXAREA + FX_FTW, 0);
}

/** Records the last non-control instruction: opcode, its address and its operand's. */
function setPointers(d: usize): void {
  const op = dOpcode(d) & 7;
  store<u16>(FXAREA + FX_FOP, <u16>((op << 8) | <u32>load<u8>(d, D_MODRM)));
  store<u64>(FXAREA + FX_FIP, rip);
  store<u64>(FXAREA + FX_FDP, offsetOf(d));
}

/**
 * Pushes an 80-bit value (64-bit significand, sign and exponent). A push onto a register in
 * use is a stack overflow: IE, SF and C1 set; masked, the value becomes the QNaN indefinite,
 * unmasked, nothing is pushed and the exception is pending.
 */
function push80(significand: u64, signExp: u32): void {
  let f = fsw();
  const top = (f >> FSW_TOP_SHIFT) & 7;
  const newTop = (top - 1) & 7;
  const tags = <u32>load<u8>(FXAREA + FX_FTW);
  let m = significand, se = signExp;
  if ((tags & (1 << newTop)) != 0) {
    f |= FSW_IE | FSW_SF | FSW_C1;
    if ((fcw() & FCW_IM) == 0) {
      setFsw(f | FSW_ES | FSW_B);
      return;
    }
    m = 0xc000_0000_0000_0000;
    se = 0xffff;
  } else {
    f &= ~FSW_C1;
  }
  // The image keeps ST(0)..ST(7) in stack order: everything moves down one slot.
  memory.copy(FXAREA + FX_ST + 16, FXAREA + FX_ST, 7 * 16);
  store<u64>(FXAREA + FX_ST, m);
  store<u64>(FXAREA + FX_ST + 8, <u64>se);
  store<u8>(FXAREA + FX_FTW, <u8>(tags | (1 << newTop)));
  setFsw((f & ~FSW_TOP) | (newTop << FSW_TOP_SHIFT));
}

/** DF /0: FILD m16int, DB /0: FILD m32int, DF /5: FILD m64int; exact conversions. */
export function fild(d: usize): void {
  fpuCheck();
  pendingCheck();
  const size: u32 = (dOpcode(d) & 0xff) == 0xdb ? 4 : (load<u8>(d, D_REG) & 7) == 5 ? 8 : 2;
  const v = <i64>sext(readV(ea(d), size), size);
  setPointers(d);
  if (v == 0) {
    push80(0, 0);
    return;
  }
  const mag = v < 0 ? <u64>(-v) : <u64>v;
  const lz = clz<u64>(mag);
  push80(mag << lz, (v < 0 ? 0x8000 : 0) | <u32>(16383 + 63 - lz));
}
