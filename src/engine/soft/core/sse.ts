// The x87/SSE register state and what the SSE executors share: the FXSAVE image at FXAREA
// (layout.ts), which is the state itself, the availability checks of CR0.EM/TS/MP and
// CR4.OSFXSR (SDM Vol. 3A, 2.5 and 13.1), XMM operand access with the 16-byte alignment rule of
// legacy SSE instructions, and the instructions that move the whole state: FXSAVE, FXRSTOR,
// LDMXCSR, STMXCSR; the fences, which have nothing to order on one vCPU.

import { FXAREA } from './layout';
import { D_REG, D_RM, D_REX, D_SEG, RM_MEM } from './decode';
import { ea, offsetOf } from './operands';
import { readV, writeV, readPtr, writePtr, probeWrite } from './mmu';
import { raise, raiseUD, raiseGP, EXC_NM, NO_ERROR_CODE } from './exceptions';
import { cr0, cr4, mode, segBase, SEG_FS } from './state';

// Byte offsets in the FXSAVE image (64-bit layout).
export const FX_FCW: usize = 0; // u16
export const FX_FSW: usize = 2; // u16, TOP in bits 11–13
export const FX_FTW: usize = 4; // u8: abridged tag word, bit i = physical register i in use
export const FX_FOP: usize = 6; // u16: 11-bit last opcode
export const FX_FIP: usize = 8; // u64
export const FX_FDP: usize = 16; // u64
export const FX_MXCSR: usize = 24; // u32
export const FX_MXCSR_MASK: usize = 28; // u32
export const FX_ST: usize = 32; // 8 × 16 bytes, ST(0)..ST(7) in stack order, 80 bits each
export const FX_XMM: usize = 160; // 16 × 16 bytes
/** The bytes FXSAVE writes in 64-bit mode (XMM0–15) and otherwise (XMM0–7). */
const FX_USED_64: u32 = 416;
const FX_USED_32: u32 = 288;

/**
 * MXCSR bits the engine supports (FXSAVE's MXCSR_MASK): flags, masks, rounding control, DAZ
 * and FTZ. Bit 17 (AMD's misaligned-SSE mode) is not, as CPUID does not advertise MisAlignSse.
 */
export const MXCSR_MASK: u32 = 0xffff;
export const MXCSR_RESET: u32 = 0x1f80;
export const FCW_RESET: u32 = 0x37f;

const CR0_MP: u64 = 1 << 1;
const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;
const CR4_OSFXSR: u64 = 1 << 9;
export const EXC_MF: u32 = 16;

/** Scratch for FXSAVE/FXRSTOR images and the x87 stack, and for operands taken apart. */
export const FXBUF: usize = memory.data(512, 16);
export const TMP: usize = memory.data(16, 16);

// --- availability ----------------------------------------------------------------------------

/** SSE instructions: #UD when CR0.EM = 1 or CR4.OSFXSR = 0, #NM when CR0.TS = 1. */
@inline export function sseCheck(): void {
  if (((cr0 & (CR0_EM | CR0_TS)) | (~cr4 & CR4_OSFXSR)) != 0) sseUnavailable();
}

function sseUnavailable(): void {
  if ((cr0 & CR0_EM) != 0 || (cr4 & CR4_OSFXSR) == 0) raiseUD();
  raise(EXC_NM, NO_ERROR_CODE);
}

/** x87 instructions, FXSAVE and FXRSTOR: #NM when CR0.EM or CR0.TS is set. */
@inline export function fpuCheck(): void {
  if ((cr0 & (CR0_EM | CR0_TS)) != 0) raise(EXC_NM, NO_ERROR_CODE);
}

/** WAIT/FWAIT: #NM only when both CR0.MP and CR0.TS are set. */
@inline export function waitCheck(): void {
  if ((cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) raise(EXC_NM, NO_ERROR_CODE);
}

// --- registers ----------------------------------------------------------------------------

@inline export function xmm(r: u32): usize { return FXAREA + FX_XMM + (<usize>r << 4); }
/** The XMM register in ModRM.reg. */
@inline export function xmmG(d: usize): usize { return xmm(<u32>load<u8>(d, D_REG)); }
/** The XMM register in ModRM.rm (the caller knows it is a register). */
@inline export function xmmE(d: usize): usize { return xmm(<u32>load<u8>(d, D_RM)); }
@inline export function isMem(d: usize): bool { return <u32>load<u8>(d, D_RM) == RM_MEM; }
@inline export function rexW(d: usize): bool { return (load<u8>(d, D_REX) & 8) != 0; }

@inline export function mxcsr(): u32 { return load<u32>(FXAREA + FX_MXCSR); }
@inline export function setMxcsr(v: u32): void { store<u32>(FXAREA + FX_MXCSR, v); }
@inline export function fcw(): u32 { return <u32>load<u16>(FXAREA + FX_FCW); }
@inline export function fsw(): u32 { return <u32>load<u16>(FXAREA + FX_FSW); }
@inline export function setFsw(v: u32): void { store<u16>(FXAREA + FX_FSW, <u16>v); }

// --- memory operands ----------------------------------------------------------------------

/**
 * The linear address of the memory operand, checked for `align`-byte alignment first: a
 * misaligned operand is #GP(0) even where its address would also fault as non-canonical on
 * the stack (#SS), as on the CPU.
 */
export function alignedEa(d: usize, align: u64): u64 {
  const seg = <u32>load<u8>(d, D_SEG);
  const base = mode != 64 || seg >= SEG_FS ? segBase(seg) : 0;
  if (((offsetOf(d) + base) & (align - 1)) != 0) raiseGP(0);
  return ea(d);
}

/** Reads 16 bytes at `va` (already checked for alignment where the form needs it). */
function read128(va: u64): v128 {
  const h = readPtr(va, 16);
  if (h != 0) return v128.load(h);
  const lo = readV(va, 8);
  const hi = readV(va + 8, 8);
  return i64x2.replace_lane(i64x2.splat(lo), 1, hi);
}

/** Writes 16 bytes at `va`, faulting before anything is written. */
function write128(va: u64, v: v128): void {
  const h = writePtr(va, 16);
  if (h != 0) {
    v128.store(h, v);
    return;
  }
  probeWrite(va, 16);
  writeV(va, 8, i64x2.extract_lane(v, 0));
  writeV(va + 8, 8, i64x2.extract_lane(v, 1));
}

/** The W operand as 128 bits (XMM register or memory). */
@inline export function readW(d: usize, aligned: bool): v128 {
  if (!isMem(d)) return v128.load(xmmE(d));
  return read128(aligned ? alignedEa(d, 16) : ea(d));
}

/** Writes the W operand (XMM register or memory). */
@inline export function writeW(d: usize, v: v128, aligned: bool): void {
  if (!isMem(d)) v128.store(xmmE(d), v);
  else write128(aligned ? alignedEa(d, 16) : ea(d), v);
}

/** The low 64 bits of the W operand (Wq, Wsd: a register's low quadword or 8 bytes). */
@inline export function readW64(d: usize): u64 {
  if (!isMem(d)) return load<u64>(xmmE(d));
  return readV(ea(d), 8);
}

/** The low 32 bits of the W operand (Wss, Wd). */
@inline export function readW32(d: usize): u32 {
  if (!isMem(d)) return load<u32>(xmmE(d));
  return <u32>readV(ea(d), 4);
}

// --- FXSAVE, FXRSTOR, LDMXCSR, STMXCSR (SDM Vol. 2; Vol. 1, 10.5) ---------------------------

/** Copies `len` bytes (a multiple of 8) from `from` to guest `va`, already probed for writing. */
function copyOut(va: u64, from: usize, len: u32): void {
  const h = writePtr(va, len);
  if (h != 0) {
    memory.copy(h, from, len);
    return;
  }
  for (let i: u32 = 0; i < len; i += 8) writeV(va + i, 8, load<u64>(from + i));
}

/** Reads `len` bytes (a multiple of 8) at guest `va` into `to`. */
function copyIn(to: usize, va: u64, len: u32): void {
  const h = readPtr(va, len);
  if (h != 0) {
    memory.copy(to, h, len);
    return;
  }
  for (let i: u32 = 0; i < len; i += 8) store<u64>(to + i, readV(va + i, 8));
}

/**
 * The FXSAVE area of the memory operand: 16-byte aligned, else #GP(0). Its last byte is
 * checked first, as AMD CPUs do: an area running into a page that faults reports the address
 * of its last byte (va + 511) in CR2.
 */
function fxArea(d: usize, write: bool): u64 {
  const va = alignedEa(d, 16);
  if (write) probeWrite(va + 511, 1);
  else readV(va + 511, 1);
  return va;
}

/** FSW.ES: an unmasked x87 exception is pending. */
const FSW_ES: u32 = 1 << 7;

/**
 * 0F AE /0: FXSAVE, and FXSAVE64 with REX.W. As on AMD CPUs without XSaveErPtr (which CPUID
 * describes), FOP and the x87 instruction and data pointers are saved only while an exception
 * is pending (FSW.ES), else as zeros; the 32-bit layout holds 32-bit offsets with zero
 * selectors (the engine keeps no FCS/FDS, as CPUs that deprecate them). With CR4.OSFXSR = 0,
 * MXCSR and the XMM registers are not saved (as on AMD CPUs). Bytes 416–511 are not written;
 * outside 64-bit mode neither are XMM8–15.
 */
export function fxsave(d: usize): void {
  fpuCheck();
  const va = fxArea(d, true);
  const len = mode == 64 ? FX_USED_64 : FX_USED_32;
  probeWrite(va, len);
  memory.copy(FXBUF, FXAREA, len);
  store<u32>(FXBUF + FX_MXCSR_MASK, MXCSR_MASK);
  if ((fsw() & FSW_ES) == 0) {
    store<u16>(FXBUF + FX_FOP, 0);
    store<u64>(FXBUF + FX_FIP, 0);
    store<u64>(FXBUF + FX_FDP, 0);
  } else if (!rexW(d)) {
    store<u64>(FXBUF + FX_FIP, <u64>load<u32>(FXAREA + FX_FIP));
    store<u64>(FXBUF + FX_FDP, <u64>load<u32>(FXAREA + FX_FDP));
  }
  if ((cr4 & CR4_OSFXSR) != 0) {
    copyOut(va, FXBUF, len);
  } else {
    copyOut(va, FXBUF, <u32>FX_MXCSR);
    copyOut(va + FX_ST, FXBUF + FX_ST, <u32>(FX_XMM - FX_ST));
  }
}

/** FCW as the CPU keeps it: reserved bits 7 and 13–15 read as 0, bit 6 as 1. */
@inline export function normalFcw(v: u32): u32 { return (v & 0x1f3f) | 0x40; }

/** FSW with ES and B (a copy of ES) set exactly when an unmasked exception flag is set. */
@inline export function normalFsw(f: u32, cw: u32): u32 {
  return (f & ~cw & 0x3f) != 0 ? f | 0x8080 : f & ~0x8080;
}

/**
 * 0F AE /1: FXRSTOR (FXRSTOR64 with REX.W). #GP(0) when the image sets an MXCSR bit outside
 * MXCSR_MASK. FCW and FSW are normalised as the CPU does; FOP and the pointers are loaded
 * only when an exception is pending (else zeroed), as on AMD CPUs. The reserved bytes of each
 * ST register slot are dropped, so FXSAVE stores zeros there as the CPU does.
 */
export function fxrstor(d: usize): void {
  fpuCheck();
  const va = fxArea(d, false);
  const len = mode == 64 ? FX_USED_64 : FX_USED_32;
  copyIn(FXBUF, va, len);
  const sse = (cr4 & CR4_OSFXSR) != 0;
  if (sse && (load<u32>(FXBUF + FX_MXCSR) & ~MXCSR_MASK) != 0) raiseGP(0);
  // Nothing can fault from here on.
  const cw = normalFcw(<u32>load<u16>(FXBUF + FX_FCW));
  const sw = normalFsw(<u32>load<u16>(FXBUF + FX_FSW), cw);
  store<u16>(FXAREA + FX_FCW, <u16>cw);
  store<u16>(FXAREA + FX_FSW, <u16>sw);
  store<u16>(FXAREA + FX_FTW, load<u8>(FXBUF + FX_FTW));
  let fop: u16 = 0, fip: u64 = 0, fdp: u64 = 0;
  if ((sw & FSW_ES) != 0) {
    fop = load<u16>(FXBUF + FX_FOP) & 0x7ff;
    fip = rexW(d) ? load<u64>(FXBUF + FX_FIP) : <u64>load<u32>(FXBUF + FX_FIP);
    fdp = rexW(d) ? load<u64>(FXBUF + FX_FDP) : <u64>load<u32>(FXBUF + FX_FDP);
  }
  store<u16>(FXAREA + FX_FOP, fop);
  store<u64>(FXAREA + FX_FIP, fip);
  store<u64>(FXAREA + FX_FDP, fdp);
  if (sse) setMxcsr(load<u32>(FXBUF + FX_MXCSR));
  for (let i: usize = 0; i < 8; i++) {
    const at = FX_ST + (i << 4);
    store<u64>(FXAREA + at, load<u64>(FXBUF + at));
    store<u64>(FXAREA + at + 8, <u64>load<u16>(FXBUF + at + 8));
  }
  if (sse) memory.copy(FXAREA + FX_XMM, FXBUF + FX_XMM, len - <u32>FX_XMM);
}

/** 0F AE /2: LDMXCSR m32; #GP(0) for a bit outside MXCSR_MASK. */
export function ldmxcsr(d: usize): void {
  sseCheck();
  const v = <u32>readV(ea(d), 4);
  if ((v & ~MXCSR_MASK) != 0) raiseGP(0);
  setMxcsr(v);
}

/** 0F AE /3: STMXCSR m32. */
export function stmxcsr(d: usize): void {
  sseCheck();
  writeV(ea(d), 4, <u64>mxcsr());
}

/** 0F AE /5, /6, /7 with a register operand: LFENCE, MFENCE, SFENCE. */
export function fence(d: usize): void {}
