// Architectural state of the vCPU. The general registers live permanently in linear memory at
// STATE (so that TypeScript and, later, compiled code reach them without a call); the rest is
// kept in wasm globals while the engine runs and copied to/from STATE by syncOut/syncIn.

import { STATE } from './layout';
import { breakBlock } from './control';

// Exchange-area slots (u64 each), mirrored by src/engine/soft/engine.ts.
export const S_RIP: u32 = 16;
export const S_RFLAGS: u32 = 17;
export const S_CR0: u32 = 18;
export const S_CR2: u32 = 19;
export const S_CR3: u32 = 20;
export const S_CR4: u32 = 21;
export const S_CR8: u32 = 22;
export const S_EFER: u32 = 23;
export const S_ICOUNT: u32 = 24;
/** Segments ES, CS, SS, DS, FS, GS, LDTR, TR: 4 slots each (selector, base, limit, attributes). */
export const S_SEGS: u32 = 32;
export const S_GDTR: u32 = 64;
export const S_IDTR: u32 = 66;
/** The last exception: vector, error code (or -1), CR2 at the time, RIP of the instruction. */
export const S_EXC: u32 = 72;

// Model-specific registers kept in the exchange area (msr.ts), one slot each.
export const S_STAR: u32 = 80;
export const S_LSTAR: u32 = 81;
export const S_CSTAR: u32 = 82;
export const S_SFMASK: u32 = 83;
export const S_KERNEL_GS_BASE: u32 = 84;
export const S_SYSENTER_CS: u32 = 85;
export const S_SYSENTER_ESP: u32 = 86;
export const S_SYSENTER_EIP: u32 = 87;
/** TSC = virtual nanoseconds + this offset (WRMSR to the TSC sets it). */
export const S_TSC_OFFSET: u32 = 88;
export const S_PAT: u32 = 89;
/** DR0–DR7 (stored; breakpoints are not implemented). */
export const S_DR: u32 = 90;
export const S_HWCR: u32 = 98;

// Segment register numbers, in the order of the ModRM sreg field (SDM Vol. 2, 3.1.1.3).
export const SEG_ES: u32 = 0;
export const SEG_CS: u32 = 1;
export const SEG_SS: u32 = 2;
export const SEG_DS: u32 = 3;
export const SEG_FS: u32 = 4;
export const SEG_GS: u32 = 5;
export const SEG_LDTR: u32 = 6;
export const SEG_TR: u32 = 7;
/** "No segment override" in a decoded record. */
export const SEG_DEFAULT: u32 = 0xff;

// Segment attribute bits, laid out as VMX access rights (SDM Vol. 3C, 24.4.1).
export const ATTR_L: u64 = 1 << 13;
export const ATTR_DB: u64 = 1 << 14;

// Control register and EFER bits (SDM Vol. 3A, 2.5 and 2.2.1).
export const CR0_PE: u64 = 1 << 0;
export const CR0_WP: u64 = 1 << 16;
export const CR0_PG: u64 = 1 << 31;
export const CR4_TSD: u64 = 1 << 2;
export const CR4_PAE: u64 = 1 << 5;
export const CR4_PGE: u64 = 1 << 7;
export const EFER_LME: u64 = 1 << 8;
export const EFER_LMA: u64 = 1 << 10;
export const EFER_NXE: u64 = 1 << 11;

// General register numbers.
export const RAX: u32 = 0;
export const RCX: u32 = 1;
export const RDX: u32 = 2;
export const RBX: u32 = 3;
export const RSP: u32 = 4;
export const RBP: u32 = 5;
export const RSI: u32 = 6;
export const RDI: u32 = 7;

/** Address of the current instruction. */
export let rip: u64 = 0;
/** Address of the next instruction; branches overwrite it. */
export let nextRip: u64 = 0;
export let cr0: u64 = 0;
export let cr2: u64 = 0;
export let cr3: u64 = 0;
export let cr4: u64 = 0;
export let cr8: u64 = 0;
export let efer: u64 = 0;
/** Current privilege level. */
export let cpl: u32 = 0;
/** Code size: 16, 32 or 64 (from CR0.PE, EFER.LMA, CS.L and CS.D). */
export let mode: u32 = 16;
/** Instructions retired. */
export let icount: u64 = 0;

export function setRip(v: u64): void { rip = v; }
export function setNextRip(v: u64): void { nextRip = v; }
export function setCr2(v: u64): void { cr2 = v; }
export function setCr0(v: u64): void { cr0 = v; }
export function setCr3(v: u64): void { cr3 = v; }
export function setCr4(v: u64): void { cr4 = v; }
export function setCr8(v: u64): void { cr8 = v; }
export function setEfer(v: u64): void { efer = v; }
export function bumpIcount(): void { icount++; }

@inline export function slot(n: u32): usize { return STATE + (<usize>n << 3); }
@inline export function getSlot(n: u32): u64 { return load<u64>(slot(n)); }
@inline export function setSlot(n: u32, v: u64): void { store<u64>(slot(n), v); }

// --- general registers -------------------------------------------------------------------

@inline export function reg64(r: u32): u64 { return load<u64>(STATE + (<usize>r << 3)); }
@inline export function setReg64(r: u32, v: u64): void { store<u64>(STATE + (<usize>r << 3), v); }

/** Reads register `r` at `size` bytes (1 = low byte; AH..BH are handled by the callers). */
@inline export function regN(r: u32, size: u32): u64 {
  const p = STATE + (<usize>r << 3);
  if (size == 8) return load<u64>(p);
  if (size == 4) return <u64>load<u32>(p);
  if (size == 2) return <u64>load<u16>(p);
  return <u64>load<u8>(p);
}

/** Writes register `r` at `size` bytes: 32-bit writes zero-extend, 8/16-bit writes merge. */
@inline export function setRegN(r: u32, size: u32, v: u64): void {
  const p = STATE + (<usize>r << 3);
  if (size == 8) store<u64>(p, v);
  else if (size == 4) store<u64>(p, v & 0xffff_ffff);
  else if (size == 2) store<u16>(p, <u16>v);
  else store<u8>(p, <u8>v);
}

// Byte registers: without a REX prefix, encodings 4–7 name AH, CH, DH, BH (SDM Vol. 2, 3.1.1.1).

/** Reads byte register encoding `r`; `rex` tells whether the instruction had a REX prefix. */
@inline export function reg8(r: u32, rex: bool): u64 {
  if (!rex && r - 4 < 4) return <u64>load<u8>(STATE + (<usize>(r - 4) << 3) + 1);
  return <u64>load<u8>(STATE + (<usize>r << 3));
}

/** Writes byte register encoding `r`. */
@inline export function setReg8(r: u32, rex: bool, v: u64): void {
  if (!rex && r - 4 < 4) store<u8>(STATE + (<usize>(r - 4) << 3) + 1, <u8>v);
  else store<u8>(STATE + (<usize>r << 3), <u8>v);
}

// --- segments ----------------------------------------------------------------------------

@inline export function segSelector(s: u32): u32 { return <u32>getSlot(S_SEGS + s * 4); }
@inline export function segBase(s: u32): u64 { return getSlot(S_SEGS + s * 4 + 1); }
@inline export function segLimit(s: u32): u64 { return getSlot(S_SEGS + s * 4 + 2); }
@inline export function segAttr(s: u32): u64 { return getSlot(S_SEGS + s * 4 + 3); }

/** Recomputes the code size and CPL after a change to CR0, EFER or CS. */
export function updateMode(): void {
  const cs = segAttr(SEG_CS);
  if ((cr0 & CR0_PE) == 0) mode = 16;
  else if ((efer & EFER_LMA) != 0 && (cs & ATTR_L) != 0) mode = 64;
  else mode = (cs & ATTR_DB) != 0 ? 32 : 16;
  cpl = (cr0 & CR0_PE) == 0 ? 0 : (<u32>(cs >> 5) & 3);
  breakBlock();
}

/** Copies the globals to the exchange area. */
export function syncOut(flags: u64): void {
  setSlot(S_RIP, rip);
  setSlot(S_RFLAGS, flags);
  setSlot(S_CR0, cr0);
  setSlot(S_CR2, cr2);
  setSlot(S_CR3, cr3);
  setSlot(S_CR4, cr4);
  setSlot(S_CR8, cr8);
  setSlot(S_EFER, efer);
  setSlot(S_ICOUNT, icount);
}

/** Loads the globals from the exchange area; returns RFLAGS for the flags module. */
export function syncIn(): u64 {
  rip = getSlot(S_RIP);
  cr0 = getSlot(S_CR0);
  cr2 = getSlot(S_CR2);
  cr3 = getSlot(S_CR3);
  cr4 = getSlot(S_CR4);
  cr8 = getSlot(S_CR8);
  efer = getSlot(S_EFER);
  icount = getSlot(S_ICOUNT);
  updateMode();
  return getSlot(S_RFLAGS);
}
