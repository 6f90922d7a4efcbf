/**
 * The x87/SSE side of the case generator: which forms are vector forms, their operand and
 * memory sizes, the random x87/SSE state a case starts with (edge-biased lanes, MXCSR and x87
 * control/status words as the hardware normalises them), and per-executor shaping: shift
 * counts at the lane-width edges, valid and invalid MXCSR values, FXSAVE/FXRSTOR images.
 *
 * Differences between CPUs the comparison masks, with the reason:
 * - FXSAVE's MXCSR_MASK: the host's (AMD: 0x2FFFF with MisAlignSse) is not the engine's 0xFFFF;
 * - after FXRSTOR, bits 63:56 of FIP and FDP: the host keeps 56 bits, sign-extended;
 * - after FILD, C0, C2 and C3 (SDM FILD: undefined).
 */

import type { OpcodeForm } from '../../src/engine/soft/x86_table.js';
import { setMem } from './draft.js';
import type { Draft } from './draft.js';
import { resetImage } from './fpu_state.js';
import type { Rng } from './rand.js';
import { DATA, DATA_RW_SIZE } from './scratch.js';
import type { Shaper } from './shapers.js';

/** MXCSR bits the engine supports (core/sse.ts). */
const MXCSR_MASK = 0xffff;
/** MXCSR bit 17, AMD's misaligned-SSE mode: valid on hosts with MisAlignSse, not in the engine. */
const MXCSR_MM = 1 << 17;
const FXSAVE_SIZE = 512;

/** True for the forms of x86_table_sse.ts: a mandatory prefix, or an x87 opcode. */
export function isVectorForm(form: OpcodeForm): boolean {
  return form.prefix !== undefined || form.opcode === 0x9b || (form.opcode & 0xf8) === 0xd8;
}

/** Operand sizes a vector form is generated with: REX.W matters only for `y` operands. */
export function vectorSizes(form: OpcodeForm): number[] {
  const rexW = form.operands.some((o) => o.endsWith('y'));
  return rexW || form.handler === 'fxsave' || form.handler === 'fxrstor' ? [4, 8] : [4];
}

/** Bytes of memory a vector form's memory operand spans. */
export function vectorMemSize(form: OpcodeForm, size: number): number {
  if (form.handler === 'fxsave' || form.handler === 'fxrstor') return FXSAVE_SIZE;
  const m = form.operands.find((o) => /^[EMW]/.test(o));
  if (m === undefined) return 0;
  const suffix = m.slice(1);
  if (suffix === 'y') return size;
  const sizes: Record<string, number> = { w: 2, d: 4, ss: 4, q: 8, sd: 8, x: 16, ps: 16, pd: 16 };
  return sizes[suffix] ?? 16;
}

/**
 * Writes an `n`-byte lane at `at`: an edge (0, 1, 2, the sign boundaries, all ones but the
 * lowest bit, all ones) or random bytes.
 */
function lane(r: Rng, out: Uint8Array, at: number, n: number): void {
  if (!r.chance(0.5)) {
    for (let i = 0; i < n; i++) out[at + i] = r.int(256);
    return;
  }
  const edge = r.int(8);
  const low = [0, 1, 2, 0xff, 0, 1, 0xfe, 0xff][edge] ?? 0;
  const fill = edge >= 6 ? 0xff : edge === 3 ? 0xff : 0;
  const top = [0, 0, 0, 0x7f, 0x80, 0x80, 0xff, 0xff][edge] ?? 0;
  out.fill(fill, at, at + n);
  out[at] = n === 1 && edge >= 3 && edge <= 5 ? ([0x7f, 0x80, 0x81][edge - 3] ?? 0) : low;
  if (n > 1) out[at + n - 1] = top;
}

/** 16 bytes: lanes of one width at their edges, or edge-biased or random quadwords. */
export function xmmBytes(r: Rng): Uint8Array {
  const out = new Uint8Array(16);
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.4) {
    const n = r.pick([1, 2, 4, 8]);
    for (let at = 0; at < 16; at += n) lane(r, out, at, n);
  } else if (p < 0.7) {
    const view = new DataView(out.buffer);
    view.setBigUint64(0, r.value(), true);
    view.setBigUint64(8, r.value(), true);
  } else {
    for (let i = 0; i < 16; i++) out[i] = r.int(256);
  }
  return out;
}

/** {@link xmmBytes} as a little-endian 128-bit value. */
export function xmmValue(r: Rng): bigint {
  const view = new DataView(xmmBytes(r).buffer);
  return view.getBigUint64(0, true) | (view.getBigUint64(8, true) << 64n);
}

/** FCW as FXRSTOR and FLDCW leave it: reserved bits 7 and 13–15 clear, bit 6 set. */
export function normalFcw(v: number): number {
  return (v & 0x1f3f) | 0x40;
}

/** FSW as FXRSTOR leaves it: ES and B set exactly when an unmasked exception flag is. */
export function normalFsw(fsw: number, fcw: number): number {
  const pending = (fsw & ~fcw & 0x3f) !== 0;
  return pending ? fsw | 0x8080 : fsw & ~0x8080;
}

/** A random valid MXCSR: mostly the reset value, else any supported bits. */
function randomMxcsr(r: Rng): number {
  return r.chance(0.7) ? 0x1f80 : r.int(0x1_0000) & MXCSR_MASK;
}

/**
 * The x87/SSE state a vector case starts with, as an fpu_state.ts image; its XMM registers are
 * filled by {@link fillXmm} once the operands are chosen.
 */
export function randomFpu(r: Rng): Uint8Array {
  const img = resetImage();
  const view = new DataView(img.buffer);
  view.setUint32(24, randomMxcsr(r), true);
  if (r.chance(0.3)) {
    const fcw = r.chance(0.5) ? 0x37f : normalFcw(r.int(0x1_0000));
    view.setUint16(0, fcw, true);
    view.setUint16(2, normalFsw(r.chance(0.5) ? r.int(0x1_0000) : r.int(8) << 11, fcw), true);
    img[4] = r.chance(0.5) ? r.int(256) : 0;
    for (let i = 0; i < 8; i++) for (let k = 0; k < 10; k++) img[32 + 16 * i + k] = r.int(256);
  }
  return img;
}

/**
 * Random values in the XMM registers the instruction names and in two others (the rest stay
 * zero: cases stay short, and a write to a wrong register still shows).
 */
export function fillXmm(d: Draft): void {
  const img = (d.fpu ??= resetImage());
  const regs = new Set([d.reg & 15, d.rng.int(16), d.rng.int(16)]);
  if (d.rm !== null) regs.add(d.rm & 15);
  for (const n of regs) img.set(xmmBytes(d.rng), 160 + 16 * n);
}

/** Random values in every XMM register (for fixed encodings). */
export function fillAllXmm(d: Draft): void {
  const img = (d.fpu ??= resetImage());
  for (let n = 0; n < 16; n++) img.set(xmmBytes(d.rng), 160 + 16 * n);
}

/**
 * Exact encodings with prefix combinations (SDM Vol. 2, 2.1.2: the last F2/F3 selects the form
 * and 66 then is an operand-size prefix) and the register forms of the fences and x87 control
 * instructions as code writes them; run with random XMM registers.
 */
export const FIXED_VECTOR: readonly (readonly [string, readonly number[]])[] = [
  ['movdqu 66 f3 0f 6f', [0x66, 0xf3, 0x0f, 0x6f, 0xc1]],
  ['movdqu f3 66 0f 6f', [0xf3, 0x66, 0x0f, 0x6f, 0xca]],
  ['movsd f3 f2 0f 10', [0xf3, 0xf2, 0x0f, 0x10, 0xc1]],
  ['movss f2 f3 0f 10', [0xf2, 0xf3, 0x0f, 0x10, 0xd3]],
  ['movss f2 66 f3 0f 11', [0xf2, 0x66, 0xf3, 0x0f, 0x11, 0xe5]],
  ['pshuflw f3 f2 0f 70', [0xf3, 0xf2, 0x0f, 0x70, 0xc1, 0x1b]],
  ['movq 66 rex.w 0f 7e', [0x66, 0x48, 0x0f, 0x7e, 0xc8]],
  ['movd 66 rex 0f 7e', [0x66, 0x40, 0x0f, 0x7e, 0xc8]],
  ['movq 66 rex.w 0f 6e', [0x66, 0x49, 0x0f, 0x6e, 0xc0]],
  ['lfence', [0x0f, 0xae, 0xe8]],
  ['mfence', [0x0f, 0xae, 0xf0]],
  ['sfence', [0x0f, 0xae, 0xf8]],
  ['lfence (rm 7)', [0x0f, 0xae, 0xef]],
  ['fwait; fninit', [0x9b, 0xdb, 0xe3]],
  ['fnstsw ax', [0xdf, 0xe0]],
  ['pxor xmm0, xmm0', [0x66, 0x0f, 0xef, 0xc0]],
  ['pcmpeqb; pmovmskb', [0x66, 0x0f, 0x74, 0xc1, 0x66, 0x0f, 0xd7, 0xc0]],
  ['addss 66 f3 0f 58', [0x66, 0xf3, 0x0f, 0x58, 0xc1]],
  ['mulsd f3 f2 0f 59', [0xf3, 0xf2, 0x0f, 0x59, 0xd3]],
  ['cvtss2si 66 f3 0f 2d', [0x66, 0xf3, 0x0f, 0x2d, 0xc1]],
  ['cvtsi2sd f2 rex.w 0f 2a', [0xf2, 0x48, 0x0f, 0x2a, 0xc0]],
  ['cvtsd2si f2 66 rex.w 0f 2d', [0xf2, 0x66, 0x48, 0x0f, 0x2d, 0xc1]],
  ['xorps; cvtsi2ss', [0x0f, 0x57, 0xc0, 0xf3, 0x0f, 0x2a, 0xc1]],
  ['ucomisd; setp', [0x66, 0x0f, 0x2e, 0xc1, 0x0f, 0x9a, 0xc0]],
];

/** Sets the low quadword of XMM register `n` in the case's input state. */
function setXmmLow(d: Draft, n: number, v: bigint): void {
  d.fpu ??= resetImage();
  new DataView(d.fpu.buffer).setBigUint64(160 + 16 * n, BigInt.asUintN(64, v), true);
}

/** A shift count at the edges of `bits`-wide lanes, or a large one. */
function shiftCount(r: Rng, bits: number): bigint {
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.6) return BigInt(r.range(0, bits + 1));
  if (p < 0.85) return r.pick([BigInt(bits - 1), BigInt(bits), 63n, 64n, 127n, 128n, 255n, 256n]);
  return r.value();
}

const LANE_BITS: Readonly<Record<string, number>> = {
  psrlw: 16,
  psraw: 16,
  psllw: 16,
  psrld: 32,
  psrad: 32,
  pslld: 32,
  psrlq: 64,
  psllq: 64,
  psrldq: 16,
  pslldq: 16,
};

/** Shifts by an XMM or memory count: the count's low quadword at the edges. */
function shiftByVector(bits: number): Shaper {
  return {
    post: (d) => {
      const c = shiftCount(d.rng, bits);
      if (d.rm !== null) setXmmLow(d, d.rm, c);
      else if (d.target !== null && d.target < 0x1_0000_0000n) setMem(d, Number(d.target), c, 8);
    },
  };
}

/** Shifts by imm8. */
function shiftByImm(bits: number): Shaper {
  return {
    pre: (d) => {
      d.imm = shiftCount(d.rng, bits) & 0xffn;
    },
  };
}

/** A 16-byte aligned address in read/write data with `room` bytes after it, mostly. */
function alignedTarget(d: Draft, room: number): bigint {
  const r = d.rng;
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.8) return BigInt(DATA + r.int((DATA_RW_SIZE - room) / 16) * 16);
  if (p < 0.9) return BigInt(DATA + DATA_RW_SIZE - r.range(1, room / 16) * 16); // into read-only
  return BigInt(DATA + r.int(DATA_RW_SIZE - room));
}

/** LDMXCSR: mostly a supported value, else reserved bits (never bit 17 alone, see above). */
const ldmxcsr: Shaper = {
  post: (d) => {
    if (d.target === null || d.target >= 0x1_0000_0000n) return;
    const r = d.rng;
    let v = randomMxcsr(r);
    if (r.chance(0.2)) v = (v | (r.u32() & ~MXCSR_MASK & ~MXCSR_MM) | (1 << r.range(18, 31))) >>> 0;
    setMem(d, Number(d.target), BigInt(v), 4);
  },
};

/** FXSAVE: an aligned area; the host's MXCSR_MASK is not compared. */
const fxsave: Shaper = {
  pre: (d) => {
    d.target = alignedTarget(d, FXSAVE_SIZE);
  },
  post: (d) => {
    if (d.target === null || d.target >= 0x1_0000_0000n) return;
    d.memoryMask.push({ addr: Number(d.target) + 24, mask: 0xffff_ffff_0000_0000n });
  },
};

/** FXRSTOR: a random image with a mostly valid MXCSR. */
const fxrstor: Shaper = {
  pre: (d) => {
    d.target = alignedTarget(d, FXSAVE_SIZE);
  },
  post: (d) => {
    if (d.target === null || d.target >= 0x1_0000_0000n) return;
    const r = d.rng;
    const at = Number(d.target);
    for (let i = 0; i < 416; i += 8) setMem(d, at + i, r.chance(0.5) ? r.value() : r.u64(), 8);
    let mxcsr = randomMxcsr(r);
    if (r.chance(0.1)) mxcsr = (mxcsr | (1 << r.range(18, 31))) >>> 0;
    setMem(d, at + 24, BigInt(mxcsr), 4);
    d.undefinedFpu.i = 0xff00_0000_0000_0000n;
    d.undefinedFpu.p = 0xff00_0000_0000_0000n;
  },
};

/** FILD: C0, C2 and C3 are undefined afterwards. */
const fild: Shaper = {
  post: (d) => {
    d.undefinedFpu.s = 0x4500n;
  },
};

/** Shapers of the vector executors. */
export const SSE_SHAPERS: Readonly<Record<string, Shaper>> = {
  ...Object.fromEntries(
    Object.entries(LANE_BITS).flatMap(([name, bits]) => [
      [name, shiftByVector(bits)],
      [`${name}I`, shiftByImm(bits)],
    ]),
  ),
  ldmxcsr,
  fxsave,
  fxrstor,
  fild,
};
