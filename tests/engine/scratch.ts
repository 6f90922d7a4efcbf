/**
 * What the differential test's two sides share: the fixed scratch layout that the native
 * harness (harness/difftest.c) maps with MAP_FIXED and the engine maps in guest RAM at the same
 * addresses, the initial memory pattern, the shape of a case and of its outcome, and the text
 * line formats the harness reads and writes.
 *
 * Every snippet runs at CPL 3 on both sides (natively as a Linux process, in the engine with a
 * user-mode CS and user page tables), so privileged forms fault identically with #GP.
 */

import type { Approximate } from './draft.js';
import { imageDiff, resetImage } from './fpu_state.js';

/** The code region: read/write/execute, filled with INT3 (0xCC) between cases. */
export const CODE = 0x21_0000;
export const CODE_SIZE = 0x4000;
/** The snippet stack: read/write, holding {@link pattern} between cases. */
export const STACK = 0x22_0000;
export const STACK_SIZE = 0x2000;
/** Data: DATA_RW_SIZE read/write bytes, then one read-only page; {@link pattern} too. */
export const DATA = 0x23_0000;
export const DATA_RW_SIZE = 0x2000;
export const DATA_SIZE = 0x3000;
/** A page that is mapped on neither side, for faulting accesses and fetches. */
export const UNMAPPED = DATA + DATA_SIZE;

/** UD2: every path through a snippet ends on one, so every case ends with #UD/SIGILL. */
export const UD2 = Uint8Array.of(0x0f, 0x0b);

/** Linux signal numbers. */
export const SIG = { ILL: 4, TRAP: 5, BUS: 7, FPE: 8, SEGV: 11, ALRM: 14 } as const;

/** One differential test case: a snippet with its inputs. */
export interface Case {
  /** The table form and variant, for messages (e.g. `add Ev,Gv o32 mem`). */
  readonly label: string;
  /** Address of the snippet's first byte. */
  readonly rip: number;
  /** The snippet as the engine runs it. */
  readonly code: Uint8Array;
  /** The snippet as the host runs it, when the host implements `code` differently. */
  readonly nativeCode?: Uint8Array;
  /** Addresses of branch-target pads (a UD2 each) besides the one right after the snippet. */
  readonly pads: readonly number[];
  /** The 16 general registers in encoding order (rax, rcx, rdx, rbx, rsp, …, r15). */
  readonly regs: readonly bigint[];
  readonly rflags: bigint;
  /** Bytes written over the pattern in STACK or DATA before the run. */
  readonly patches: readonly { readonly addr: number; readonly bytes: Uint8Array }[];
  /** RFLAGS bits the SDM leaves undefined for this case. */
  readonly undefinedFlags: number;
  /** Registers (bit n = register n) whose final value the SDM leaves undefined. */
  readonly undefinedRegs: number;
  /** The SDM leaves the memory result undefined: memory is not compared. */
  readonly undefinedMemory?: boolean;
  /** Bits of memory words (8-byte aligned) not compared, with the reason in the shaper. */
  readonly memoryMask?: readonly { readonly addr: number; readonly mask: bigint }[];
  /** The x87/SSE state the case starts with (fpu_state.ts image); the reset state when absent. */
  readonly fpu?: Uint8Array;
  /** Bits of x87/SSE state fields (fpu_state.ts keys) not compared. */
  readonly undefinedFpu?: Readonly<Record<string, bigint>>;
  /**
   * XMM lanes whose value is implementation-specific within an error bound (RCPPS, RSQRTPS):
   * compared within the bound, not bit for bit.
   */
  readonly approx?: Approximate;
}

/** How a case ended, on either side. */
export interface Outcome {
  /** The Linux signal (natively), or the one the engine's exception maps to; -1: budget. */
  readonly signal: number;
  /** Exception vector (the signal's trap number natively). */
  readonly vector: number;
  readonly errorCode: bigint;
  readonly cr2: bigint;
  readonly rip: bigint;
  readonly rflags: bigint;
  readonly regs: readonly bigint[];
  /** STACK/DATA words that differ from the pattern: `addr:value,…` (hex), or `-`. */
  readonly memory: string;
  /** The x87/SSE fields that differ from the case's input state (fpu_state.ts), or `-`. */
  readonly fpu: string;
}

/** The initial 8-byte word at (8-aligned) `addr` in STACK and DATA: splitmix64's finaliser. */
export function pattern(addr: number): bigint {
  let z = BigInt.asUintN(64, BigInt(addr) + 0x9e37_79b9_7f4a_7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58_476d_1ce4_e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d0_49bb_1331_11ebn);
  return z ^ (z >> 31n);
}

/** The pattern of `[at, at + size)` as 32-bit words, little-endian. */
export function patternWords(at: number, size: number): Uint32Array {
  const words = new Uint32Array(size / 4);
  for (let i = 0; i < size / 8; i++) {
    const v = pattern(at + i * 8);
    words[2 * i] = Number(v & 0xffff_ffffn);
    words[2 * i + 1] = Number(v >> 32n);
  }
  return words;
}

/** True when `addr` lies in STACK or DATA (the pattern-filled regions). */
export function inPatterned(addr: number): boolean {
  return (addr >= STACK && addr < STACK + STACK_SIZE) || (addr >= DATA && addr < DATA + DATA_SIZE);
}

/** True when `addr` lies in CODE. */
export function inCode(addr: number): boolean {
  return addr >= CODE && addr < CODE + CODE_SIZE;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b] ?? '';
  return s;
}

/** The reset x87/SSE state, the reference of a case line's FPU field. */
const RESET_IMAGE = resetImage();

/** The snippet, its trailing UD2 and the pads, as code patches. */
export function codePatches(c: Case, native: boolean): { addr: number; bytes: Uint8Array }[] {
  const code = native ? (c.nativeCode ?? c.code) : c.code;
  const body = new Uint8Array(code.length + 2);
  body.set(code);
  body.set(UD2, code.length);
  return [{ addr: c.rip, bytes: body }, ...c.pads.map((addr) => ({ addr, bytes: UD2 }))];
}

/** The harness's input line for `c`. */
export function caseLine(c: Case): string {
  const patches = [...codePatches(c, true), ...c.patches]
    .map((p) => `${p.addr.toString(16)}:${hex(p.bytes)}`)
    .join(',');
  const regs = c.regs.map((r) => r.toString(16)).join(' ');
  const fpu = c.fpu === undefined ? '-' : imageDiff(RESET_IMAGE, c.fpu);
  return `${c.rip.toString(16)} ${c.rflags.toString(16)} ${regs} ${patches} ${fpu}`;
}

/** Parses one line of harness output. */
export function parseOutcome(line: string): Outcome {
  const f = line.trim().split(' ');
  if (f.length !== 24) throw new Error(`difftest: malformed result line: ${line}`);
  const n = (i: number): bigint => BigInt(`0x${f[i] ?? '0'}`);
  return {
    signal: Number(n(0)),
    vector: Number(n(1)),
    errorCode: n(2),
    cr2: n(3),
    rip: n(4),
    rflags: n(5),
    regs: Array.from({ length: 16 }, (_, i) => n(6 + i)),
    memory: f[22] ?? '-',
    fpu: f[23] ?? '-',
  };
}

/** The layout as the harness's command-line arguments. */
export function harnessArgs(): string[] {
  return [CODE, CODE_SIZE, STACK, STACK_SIZE, DATA, DATA_RW_SIZE, DATA_SIZE].map((v) =>
    v.toString(16),
  );
}
