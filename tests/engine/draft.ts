/**
 * A case under construction, and the helpers the operand shapers (shapers.ts) use on it:
 * register and memory values as the instruction will see them, scratch addresses, branch pads.
 */

import type { OpcodeForm, PrefixAlias } from '../../src/engine/soft/x86_table.js';
import type { Rng } from './rand.js';
import {
  CODE,
  CODE_SIZE,
  DATA,
  DATA_RW_SIZE,
  STACK,
  STACK_SIZE,
  UNMAPPED,
  inPatterned,
  pattern,
} from './scratch.js';

export const RAX = 0;
export const RCX = 1;
export const RDX = 2;
export const RBX = 3;
export const RSP = 4;
export const RBP = 5;
export const RSI = 6;
export const RDI = 7;
const MASK64 = (1n << 64n) - 1n;

/** A case being built. Shapers may change anything before the encoder or after it. */
export interface Draft {
  readonly rng: Rng;
  readonly form: OpcodeForm;
  /** Operand size in bytes. */
  readonly size: number;
  /** A mandatory-prefix alias being tested, if any. */
  readonly alias: PrefixAlias | undefined;
  /** The variant has a memory ModRM operand. */
  readonly mem: boolean;
  /** Address size in bytes (4 with a 67 prefix). */
  asize: 4 | 8;
  rip: number;
  regs: bigint[];
  rflags: bigint;
  /** Registers whose values a shaper or the address solver fixed; others may be changed. */
  readonly pinned: Set<number>;
  /** A REX prefix is present: byte registers 4–7 are SPL..DIL, and 8–15 are reachable. */
  rex: boolean;
  /** Legacy prefixes chosen by shapers (REP), kept in front of the others. */
  readonly prefixes: number[];
  /** ModRM.reg (or the opcode's register); -1 until chosen. */
  reg: number;
  /** The register E operand, or null. */
  rm: number | null;
  /** Effective address of the memory operand, or null; a shaper may preset it. */
  target: bigint | null;
  /** Immediate value preset by a shaper (otherwise random). */
  imm: bigint | null;
  /** The encoded snippet (after encoding). */
  bytes: Uint8Array;
  /** Offset of the immediate in `bytes`. */
  immAt: number;
  readonly patches: Map<number, number>;
  readonly pads: number[];
  undefinedFlags: number;
  undefinedRegs: number;
  /** The memory result is undefined (e.g. SHLD of a 16-bit operand by more than 16). */
  undefinedMemory: boolean;
  /** Bits of memory words not compared (see Case.memoryMask). */
  readonly memoryMask: { addr: number; mask: bigint }[];
  /** The x87/SSE state the case starts with (an fpu_state.ts image); absent: the reset state. */
  fpu: Uint8Array | undefined;
  /** Bits of x87/SSE state fields not compared. */
  readonly undefinedFpu: Record<string, bigint>;
  /** Lanes of an XMM register compared within an error bound (see Case.approx). */
  approx: Approximate | undefined;
}

/** Binary32 lanes of XMM register `reg` that hold approximations of 1/x or 1/√x. */
export interface Approximate {
  readonly reg: number;
  /** Lanes 0 … lanes − 1. */
  readonly lanes: number;
  readonly kind: 'rcp' | 'rsqrt';
}

/** Address just past the snippet. */
export function nextRip(d: Draft): number {
  return d.rip + d.bytes.length;
}

/** A register number valid for the draft's REX state. */
export function pickReg(d: Draft): number {
  return d.rex ? d.rng.int(16) : d.rng.int(8);
}

/** The value of register `r` at `size` bytes as the instruction reads it (AH..BH without REX). */
export function regValue(d: Draft, r: number, size: number): bigint {
  if (size === 1 && !d.rex && r >= 4 && r < 8) return ((d.regs[r - 4] ?? 0n) >> 8n) & 0xffn;
  return (d.regs[r] ?? 0n) & ((1n << BigInt(size * 8)) - 1n);
}

/** Sets the low `size` bytes of register `r` (AH..BH without REX), keeping the rest. */
export function setRegValue(d: Draft, r: number, size: number, v: bigint): void {
  const high = size === 1 && !d.rex && r >= 4 && r < 8;
  const at = high ? r - 4 : r;
  const shift = high ? 8n : 0n;
  const mask = ((1n << BigInt(size * 8)) - 1n) << shift;
  const old = d.regs[at] ?? 0n;
  d.regs[at] = (old & ~mask & MASK64) | ((v << shift) & mask);
}

/** The byte at `addr` as the case will start with it (patches over the pattern). */
export function memByte(d: Draft, addr: number): number {
  const p = d.patches.get(addr);
  if (p !== undefined) return p;
  return Number((pattern(addr - (addr % 8)) >> BigInt(8 * (addr % 8))) & 0xffn);
}

/** Reads `n` little-endian bytes at `addr`. */
export function memValue(d: Draft, addr: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(memByte(d, addr + i));
  return v;
}

/** Patches `n` little-endian bytes of `v` at `addr` (bytes outside STACK/DATA are dropped). */
export function setMem(d: Draft, addr: number, v: bigint, n: number): void {
  for (let i = 0; i < n; i++) {
    if (inPatterned(addr + i)) d.patches.set(addr + i, Number((v >> BigInt(8 * i)) & 0xffn));
  }
}

/** The memory target as a number when it lies in the 32-bit space, else null. */
export function targetAddr(d: Draft): number | null {
  if (d.target === null || d.target >= 0x1_0000_0000n) return null;
  return Number(d.target);
}

/** The E operand's value at `size` bytes (register or memory). */
export function eValue(d: Draft, size: number): bigint {
  if (d.rm !== null) return regValue(d, d.rm, size);
  const t = targetAddr(d);
  return t === null ? 0n : memValue(d, t, size);
}

/** Sets the E operand's value if it is not an address register; returns whether it could. */
export function setEValue(d: Draft, size: number, v: bigint): boolean {
  if (d.rm !== null) {
    const full = size === 1 && !d.rex && d.rm >= 4 && d.rm < 8 ? d.rm - 4 : d.rm;
    if (d.pinned.has(full)) return false;
    setRegValue(d, d.rm, size, v);
    return true;
  }
  const t = targetAddr(d);
  if (t === null) return false;
  setMem(d, t, v, size);
  return true;
}

/** Sets register `r` unless something pinned it; returns whether it could. */
export function trySetReg(d: Draft, r: number, size: number, v: bigint): boolean {
  const full = size === 1 && !d.rex && r >= 4 && r < 8 ? r - 4 : r;
  if (d.pinned.has(full)) return false;
  setRegValue(d, r, size, v);
  return true;
}

/** Pins register `r` to `v`. */
export function pin(d: Draft, r: number, v: bigint): void {
  d.regs[r] = v & MASK64;
  d.pinned.add(r);
}

/** A stack pointer: mostly inside STACK with room both ways, sometimes at its edges. */
export function stackPointer(d: Draft): bigint {
  const r = d.rng;
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.03) return BigInt(STACK + r.pick([0, 2, 4, 8]));
  if (p < 0.06) return BigInt(STACK + STACK_SIZE - r.pick([0, 2, 4]));
  if (p < 0.07) return 0x8000_0000_0000_0000n + BigInt(r.int(0x1000) * 8);
  const sp = STACK + 0x1000 + r.range(-0x60, 0x60) * 8;
  return BigInt(r.chance(0.1) ? sp + r.range(1, 7) : sp);
}

/** A data address with `room` bytes of slack on both sides. */
export function dataAddress(d: Draft, room: number): number {
  return DATA + room + d.rng.int(DATA_RW_SIZE - 2 * room);
}

/**
 * Chooses the effective address of a `size`-byte memory operand: mostly read/write data,
 * sometimes crossing a page, read-only, unmapped, on the stack, or non-canonical.
 */
export function chooseTarget(d: Draft, size: number): bigint {
  const r = d.rng;
  const s = Math.max(size, 1);
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.7) {
    let off = r.int(DATA_RW_SIZE - s + 1);
    if (r.chance(0.6)) off -= off % s;
    return BigInt(DATA + off);
  }
  if (p < 0.77) return BigInt(DATA + 0x1000 - r.range(1, s));
  if (p < 0.84) return BigInt(DATA + DATA_RW_SIZE + r.int(0x1000 - s + 1));
  if (p < 0.87) return BigInt(DATA + DATA_RW_SIZE - r.range(1, s));
  if (p < 0.9) return BigInt(r.chance(0.5) ? UNMAPPED - r.range(1, s) : UNMAPPED + r.int(0x1000));
  if (p < 0.93 && d.asize === 8) {
    return (
      r.pick([0x8000_0000_0000_0000n, 0x0000_8000_0000_0000n, 0xffff_7fff_ffff_f000n]) +
      BigInt(r.int(0x1000))
    );
  }
  return BigInt(STACK + r.int(STACK_SIZE - s + 1));
}

/** True when the 2-byte pad at `t` fits the code region and misses the snippet and its UD2. */
function padFits(d: Draft, t: number): boolean {
  if (t < CODE || t + 2 > CODE + CODE_SIZE) return false;
  if (t + 2 > d.rip && t < nextRip(d) + 2) return t === nextRip(d);
  return d.pads.every((p) => t + 2 <= p || t >= p + 2);
}

/**
 * A branch target in [lo, hi] (absolute) with a UD2 pad placed there; the fall-through UD2
 * itself when nothing else fits.
 */
export function padTarget(d: Draft, lo: number, hi: number): number {
  for (let tries = 0; tries < 20; tries++) {
    const t = d.rng.range(lo, hi);
    if (!padFits(d, t)) continue;
    if (t !== nextRip(d)) d.pads.push(t);
    return t;
  }
  return nextRip(d);
}

/** A target for an indirect branch: a pad, or rarely unmapped or non-canonical. */
export function indirectTarget(d: Draft): bigint {
  const r = d.rng;
  if (r.chance(0.03)) return BigInt(UNMAPPED + r.int(0x800));
  if (r.chance(0.03)) return 0x0000_8000_0000_0000n + BigInt(r.int(0x1000));
  return BigInt(padTarget(d, CODE, CODE + CODE_SIZE - 2));
}
