/**
 * The differential test's case generator, driven by OPCODE_TABLE: every form in the table
 * (each group digit, each operand size by 66/REX.W where the form allows it, register and
 * memory ModRM operands, REX-extended and SPL..DIL registers, every immediate width, and each
 * mandatory-prefix alias) becomes a variant; cases cycle through the variants with seeded,
 * edge-biased operands and random arithmetic flags and DF. Memory operands use every 64-bit
 * addressing form (base, SIB, no base, RIP-relative, disp8/disp32, 32-bit addresses via 67)
 * solved to land in the scratch regions, sometimes across a page, on the read-only page,
 * unmapped, or non-canonical. Prefix noise: ignored segment overrides, REX bits the CPU
 * ignores, a REX before a legacy prefix, LOCK where it is and is not allowed, over-long
 * instructions. Per-executor shaping (stack pointers, branch pads, divisors, string counts)
 * and the SDM's operand-dependent undefined flags live in shapers.ts.
 *
 * What is not covered, and why:
 * - {@link SKIPPED} executors (CPUID: the engine reports its own features by design).
 * - IN/OUT, HLT, CLI/STI run at CPL 3 on both sides, so only their #GP is compared; their
 *   CPL 0 semantics need tiny guests.
 * - 66-prefixed near branches (CALL/JMP/Jcc/RET/LOOP): AMD honours a 16-bit operand size there,
 *   Intel ignores it; the engine follows Intel (f64). Not generated.
 * - CMPXCHG16B (REX.W 0F C7 /1): CX16 is not advertised, so the engine raises #UD; hosts have
 *   it. Not generated.
 * - FS/GS segment overrides on memory operands: the host's FS is glibc's TLS block.
 * - 16- and 32-bit code: the host runs the snippets in 64-bit mode only.
 * - TF and AC are never set (single-step traps and alignment checks would hit the harness).
 * - x87/SSE (sse_shapers.ts): MMX (with the MMX-register conversions CVTPI2PS … CVTTPD2PI),
 *   SSE3 and later, AVX (VEX), CLFLUSH, CLFLUSHOPT and CLWB are absent from the engine (#UD)
 *   but present on hosts; the CR0.EM/TS/MP and CR4.OSFXSR rules and #UD for an unmasked SIMD
 *   exception without CR4.OSXMMEXCPT need CPL 0 (fpu.test.ts covers them); MXCSR.MM (bit 17)
 *   is valid only on hosts with AMD's MisAlignSse. RCPPS/RSQRTPS results are compared within
 *   the SDM's error bound, not bit for bit (fp_shapers.ts).
 */

import { ImmKind, OPCODE_TABLE } from '../../src/engine/soft/x86_table.js';
import type { OpcodeForm, PrefixAlias } from '../../src/engine/soft/x86_table.js';
import { assemble, le } from './encode.js';
import type { MemOperand } from './encode.js';
import { chooseTarget, pickReg, setMem, targetAddr } from './draft.js';
import type { Draft } from './draft.js';
import { Rng } from './rand.js';
import { CODE, CODE_SIZE } from './scratch.js';
import type { Case } from './scratch.js';
import { SHAPERS } from './shapers.js';
import { floatShapers } from './fp_shapers.js';
import {
  FIXED_VECTOR,
  SSE_SHAPERS,
  fillAllXmm,
  fillXmm,
  isVectorForm,
  randomFpu,
  vectorMemSize,
  vectorSizes,
  xmmValue,
} from './sse_shapers.js';

/** Shapers of the floating-point forms (fp_shapers.ts). */
const FLOAT_SHAPERS = floatShapers(OPCODE_TABLE);

/** Executors the differential test does not run, with the reason. */
export const SKIPPED: Readonly<Record<string, string>> = {
  cpuid: 'CPUID reports the engine’s own feature set by design (core/cpuid.ts), not the host’s',
  incDecZ: '40–4F are REX prefixes in 64-bit mode, where snippets run (tests/boot/modes.test.ts)',
  intN: 'INT n enters the host kernel through its IDT (INT 0x80 is a system call)',
  iret: 'IRET needs a frame the snippet does not build; tested by guests in tests/boot',
  syscall: 'SYSCALL would make a real system call on the host',
  sysret: 'SYSRET needs EFER.SCE and CPL 0, which snippets at CPL 3 on the host do not have',
  rdtsc: 'the TSC counts a different clock on the host',
  movFromSreg: 'selectors depend on the host’s and the engine’s GDT layouts',
  movToSreg: 'selectors depend on the host’s and the engine’s GDT layouts',
  pushSreg: 'selectors depend on the host’s and the engine’s GDT layouts',
  popSreg: 'selectors depend on the host’s and the engine’s GDT layouts',
  loadFarPointer: 'selectors depend on the host’s and the engine’s GDT layouts',
  jmpFar: 'selectors depend on the host’s and the engine’s GDT layouts',
  callFar: 'selectors depend on the host’s and the engine’s GDT layouts',
  retFar: 'selectors depend on the host’s and the engine’s GDT layouts',
  group6: 'SLDT/STR/VERR/VERW depend on the host’s descriptor tables',
  group7: 'SGDT/SIDT/SMSW read the host’s own tables and CR0 (and UMIP may forbid them)',
};

/**
 * Opcodes whose LOCK-prefixed encoding is another instruction on AMD hosts: LOCK MOV CR0 is
 * MOV CR8 there (AltMovCr8), which the engine's CPUID does not advertise (so #UD).
 */
const LOCK_MEANS_OTHER = new Set([0x0f20, 0x0f22]);

/** One-byte opcodes that are invalid in 64-bit mode (SDM Vol. 2, Table A-2 "i64"). */
const INVALID_64 = [
  0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce,
  0xd4, 0xd5, 0xd6, 0xea,
];

/** Exact encodings worth running as they appear in real code (SDM Vol. 2, Table 4-12 NOPs). */
const FIXED: readonly (readonly [string, readonly number[]])[] = [
  ['endbr64', [0xf3, 0x0f, 0x1e, 0xfa]],
  ['endbr32', [0xf3, 0x0f, 0x1e, 0xfb]],
  ['pause', [0xf3, 0x90]],
  ['nop 66 90', [0x66, 0x90]],
  ['nopl (rax)', [0x0f, 0x1f, 0x00]],
  ['nopl 0(rax)', [0x0f, 0x1f, 0x40, 0x00]],
  ['nopl 0(rax,rax)', [0x0f, 0x1f, 0x44, 0x00, 0x00]],
  ['nopw 0(rax,rax)', [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00]],
  ['nopl 0L(rax)', [0x0f, 0x1f, 0x80, 0, 0, 0, 0]],
  ['nopl 0L(rax,rax)', [0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0]],
  ['nopw 0L(rax,rax)', [0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0]],
  ...[1, 2, 3, 4, 5, 6].map(
    (k) =>
      [
        `nopw cs:0L(rax,rax) ${k}×66`,
        [...new Array<number>(k).fill(0x66), 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0],
      ] as const,
  ),
];

/** A form at one operand size with a register or memory operand: the unit of coverage. */
export interface Variant {
  readonly form: OpcodeForm;
  readonly size: number;
  readonly mem: boolean;
  readonly alias?: PrefixAlias;
  readonly label: string;
  /** Fixed instruction bytes (FIXED and invalid-opcode variants). */
  readonly bytes?: readonly number[];
  /** Cases per turn through the variants (default 1). */
  readonly weight?: number;
}

/**
 * Floating-point variants run twice per turn: their results depend on the operands, the
 * rounding mode, DAZ, FTZ and the exception masks together.
 */
const FLOAT_WEIGHT = 2;

const MASK64 = (1n << 64n) - 1n;

function sizesOf(form: OpcodeForm): number[] {
  if (isVectorForm(form)) return vectorSizes(form);
  if (form.byteOp) return [1];
  if (form.f64) return [8];
  if (form.d64) return [2, 8];
  if (form.handler === 'cmpxchg8b') return [2, 4];
  return [2, 4, 8];
}

/** Bytes of memory the E (or moffs) operand reads or writes; 0 when it is not accessed. */
function memSizeOf(form: OpcodeForm, size: number): number {
  if (isVectorForm(form)) return vectorMemSize(form, size);
  if (form.handler === 'nop' || form.handler === 'lea') return 0;
  const e = form.operands.find((o) => /^[EMO]/.test(o));
  if (e === undefined) return 0;
  if (form.f64) return 8;
  const suffix = e.slice(1);
  return { b: 1, w: 2, d: 4, q: 8 }[suffix] ?? size;
}

function labelOf(form: OpcodeForm, size: number, mem: boolean, alias?: PrefixAlias): string {
  const op = form.opcode.toString(16).padStart(2, '0');
  const ext =
    (form.ext === undefined ? '' : `/${form.ext}`) + (form.rm === undefined ? '' : `.${form.rm}`);
  const mandatory = form.prefix ? `${form.prefix.toString(16)} ` : '';
  const name = alias
    ? `${alias.mnemonic} (${alias.prefix.toString(16)} ${op})`
    : `${form.mnemonic} (${mandatory}${op}${ext})`;
  const where = form.modrm ? (mem ? ' mem' : ' reg') : '';
  return `${name} ${form.operands.join(',')} o${size * 8}${where}`;
}

/** Every variant the generator cycles through. */
export function variants(): Variant[] {
  const out: Variant[] = [];
  for (const form of OPCODE_TABLE) {
    if (SKIPPED[form.handler] !== undefined) continue;
    const mems = !form.modrm
      ? [false]
      : form.mod === undefined
        ? [false, true]
        : [form.mod === 'mem'];
    for (const size of sizesOf(form)) {
      for (const mem of mems) {
        const weight = FLOAT_SHAPERS[form.handler] !== undefined ? FLOAT_WEIGHT : 1;
        out.push({ form, size, mem, label: labelOf(form, size, mem), weight });
        for (const alias of form.aliases ?? []) {
          out.push({ form, size, mem, alias, label: labelOf(form, size, mem, alias) });
        }
      }
    }
  }
  for (const opcode of INVALID_64) {
    const form: OpcodeForm = { opcode, mnemonic: '(invalid)', operands: [], handler: 'fixed' };
    out.push({
      form,
      size: 4,
      mem: false,
      label: `invalid ${opcode.toString(16)}`,
      bytes: [opcode],
    });
  }
  for (const [list, handler] of [
    [FIXED, 'fixed'],
    [FIXED_VECTOR, 'fixedVector'],
  ] as const) {
    for (const [name, bytes] of list) {
      const form: OpcodeForm = { opcode: bytes[0] ?? 0, mnemonic: name, operands: [], handler };
      out.push({ form, size: 4, mem: false, label: name, bytes });
    }
  }
  return out;
}

function chooseRip(r: Rng): number {
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.85) return CODE + 0x1000 + r.int(0x2000);
  if (p < 0.97) return CODE + r.pick([0x1000, 0x2000, 0x3000]) - r.range(1, 10);
  return CODE + CODE_SIZE - r.range(1, 8);
}

function randomDisp32(r: Rng): number {
  return Number(BigInt.asIntN(32, r.valueBits(32)));
}

/**
 * Picks an addressing form for the memory operand and solves the free registers so that the
 * effective address is `d.target`; returns the operand (its RIP displacement is fixed later).
 */
function solveMemory(d: Draft): MemOperand {
  const r = d.rng;
  const t = d.target ?? 0n;
  const wrap = d.asize === 4 ? 0xffff_ffffn : MASK64;
  const upper = (): bigint => (d.asize === 4 ? r.u64() & ~0xffff_ffffn : 0n);
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.12 && t < 0x8000_0000n)
    return { base: 'rip', index: null, scale: 0, disp: 0, dispSize: 4 };
  if (p < 0.17 && t < 0x8000_0000n) {
    return { base: null, index: null, scale: 0, disp: Number(t), dispSize: 4 };
  }
  const limit = d.rex ? 16 : 8;
  const free = Array.from({ length: limit }, (_, i) => i).filter((i) => !d.pinned.has(i));
  const base = free.length > 0 && r.chance(0.85) ? r.pick(free) : r.int(limit);
  let index: number | null = null;
  if (p >= 0.55) {
    do index = r.int(limit);
    while (index === 4 || index === base);
  }
  let scale = index === null ? 0 : r.int(4);
  let dispSize = r.pick([0, 0, 1, 4] as const);
  if (dispSize === 0 && (base & 7) === 5) dispSize = 1;
  let disp = dispSize === 0 ? 0 : dispSize === 1 ? r.range(-120, 119) : randomDisp32(r);
  const reg = (n: number): bigint => d.regs[n] ?? 0n;
  if (!d.pinned.has(base)) {
    const idx = index === null ? 0n : reg(index) << BigInt(scale);
    d.regs[base] = ((t - BigInt(disp) - idx) & wrap) | upper();
    d.pinned.add(base);
    if (index !== null) d.pinned.add(index);
  } else if (index !== null && !d.pinned.has(index)) {
    const need = (t - BigInt(disp) - reg(base)) & wrap;
    if ((need & ((1n << BigInt(scale)) - 1n)) !== 0n) scale = 0;
    d.regs[index] = (need >> BigInt(scale)) | upper();
    d.pinned.add(index);
  } else {
    const known = reg(base) + (index === null ? 0n : reg(index) << BigInt(scale));
    const need = BigInt.asIntN(d.asize * 8, (t - known) & wrap);
    if (need >= -128n && need <= 127n && dispSize === 1) disp = Number(need);
    else if (need >= -(1n << 31n) && need < 1n << 31n) {
      dispSize = 4;
      disp = Number(need);
    } else if (t < 0x8000_0000n) {
      // The pinned registers cannot reach the target: address it absolutely instead.
      return { base: null, index: null, scale: 0, disp: Number(t), dispSize: 4 };
    }
  }
  const idx = index === null ? 0n : reg(index) << BigInt(scale);
  d.target = (reg(base) + idx + BigInt(disp)) & wrap;
  return { base, index, scale, disp, dispSize };
}

function immBytes(d: Draft, kind: number, memSize: number): number[] {
  const r = d.rng;
  const v = d.imm;
  switch (kind) {
    case ImmKind.ib:
      return le(v ?? r.valueBits(8), 1);
    case ImmKind.iw:
      return le(v ?? r.valueBits(16), 2);
    case ImmKind.iz:
      return le(v ?? r.value(), d.size === 2 ? 2 : 4);
    case ImmKind.iv:
      return le(v ?? r.value(), d.size);
    case ImmKind.iwib:
      return le(v ?? r.valueBits(24), 3);
    case ImmKind.moffs:
      d.target ??= chooseTarget(d, memSize);
      return le(d.target, d.asize);
    default:
      return [];
  }
}

function shuffle(r: Rng, items: number[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = items[i] ?? 0;
    items[i] = items[j] ?? 0;
    items[j] = t;
  }
}

/** Contiguous runs of the byte patches. */
function runs(patches: Map<number, number>): { addr: number; bytes: Uint8Array }[] {
  const addrs = [...patches.keys()].sort((a, b) => a - b);
  const out: { addr: number; bytes: Uint8Array }[] = [];
  let start = 0;
  for (let i = 1; i <= addrs.length; i++) {
    if (i < addrs.length && addrs[i] === (addrs[i - 1] ?? 0) + 1) continue;
    const first = addrs[start] ?? 0;
    out.push({
      addr: first,
      bytes: Uint8Array.from(addrs.slice(start, i), (a) => patches.get(a) ?? 0),
    });
    start = i;
  }
  return out;
}

/** Builds one case of variant `v`. */
export function buildCase(rng: Rng, v: Variant): Case {
  const { form, size, mem, alias } = v;
  const r = rng;
  const addressing = mem || form.imm === ImmKind.moffs || SHAPERS[form.handler]?.pre !== undefined;
  const d: Draft = {
    rng: r,
    form,
    size,
    alias,
    mem,
    asize: r.chance(addressing ? 0.15 : 0.03) ? 4 : 8,
    rip: chooseRip(r),
    regs: Array.from({ length: 16 }, () => r.value()),
    rflags: BigInt(r.int(0x1000) & 0x8d5) | (r.chance(0.25) ? 0x400n : 0n),
    pinned: new Set(),
    rex: form.byteOp ? r.chance(0.5) : true,
    prefixes: [],
    reg: -1,
    rm: null,
    target: null,
    imm: null,
    bytes: new Uint8Array(),
    immAt: 0,
    patches: new Map(),
    pads: [],
    undefinedFlags: form.undefinedFlags ?? 0,
    undefinedRegs: 0,
    undefinedMemory: false,
    memoryMask: [],
    fpu: undefined,
    undefinedFpu: {},
    approx: undefined,
  };
  if (v.bytes !== undefined) {
    // Away from page ends: whether the CPU fetches an invalid opcode's operands is unspecified.
    d.rip = CODE + 0x1000 + r.int(0x2000);
    const tail = v.bytes.length === 1 ? [r.int(256), r.int(256), r.int(256)] : [];
    d.bytes = Uint8Array.from([...v.bytes, ...tail]);
    if (form.handler === 'fixedVector') {
      d.fpu = randomFpu(r);
      fillAllXmm(d);
    }
    return finish(d, v.label);
  }
  const vector = isVectorForm(form);
  const shaper = vector
    ? (SSE_SHAPERS[form.handler] ?? FLOAT_SHAPERS[form.handler])
    : SHAPERS[form.handler];
  if (vector) {
    d.fpu = randomFpu(r);
    // 16-byte operands: mostly aligned, as most forms require (the others run either way).
    if (mem && memSizeOf(form, size) === 16) {
      const t = chooseTarget(d, 16);
      d.target = r.chance(0.8) ? t & ~15n : t;
    }
  }
  shaper?.pre?.(d);

  const legacy = [...d.prefixes];
  const byteRegs = form.byteOp === true;
  if (size === 2 && !byteRegs) legacy.push(0x66);
  else if (!vector && (byteRegs || (size === 8 && !form.d64 && !form.f64)) && r.chance(0.04))
    legacy.push(0x66);
  if (d.asize === 4) legacy.push(0x67);
  if (r.chance(0.05)) legacy.push(r.pick([0x26, 0x2e, 0x36, 0x3e]));
  const lock =
    !LOCK_MEANS_OTHER.has(form.opcode) &&
    (form.lockable === true && mem ? r.chance(0.25) : r.chance(0.015));
  if (lock) legacy.push(0xf0);
  shuffle(r, legacy);
  if (r.chance(0.01)) legacy.unshift(...new Array<number>(14).fill(0x2e));
  if (alias) legacy.push(alias.prefix);
  // A mandatory prefix goes last, next to REX and the opcode, as assemblers put it.
  if (form.prefix) legacy.push(form.prefix);

  // REX.W is noise for vector forms with one size (the CPU ignores it there).
  const w = byteRegs
    ? d.rex && r.chance(0.15)
    : vector && sizesOf(form).length === 1
      ? r.chance(0.1)
      : size === 8 && (form.d64 === true || form.f64 === true || form.handler === 'cmpxchg8b')
        ? r.chance(0.3) && form.handler !== 'cmpxchg8b'
        : size === 8;
  let extraRex = 0;
  let rm: number | MemOperand | undefined;
  let zreg: number | undefined;
  const memSize = memSizeOf(form, size);
  if (form.modrm) {
    if (form.ext !== undefined) {
      d.reg = form.ext;
      if (d.rex && r.chance(0.1)) extraRex |= 4;
    } else if (d.reg < 0) {
      d.reg = pickReg(d);
    }
    if (mem) {
      d.target ??= chooseTarget(d, memSize);
      rm = solveMemory(d);
    } else {
      d.rm = form.rm ?? pickReg(d);
      rm = d.rm;
      if (d.rex && r.chance(0.1)) extraRex |= form.rm === undefined ? 2 : 1;
    }
  } else if (form.operands.some((o) => o.startsWith('Z'))) {
    d.reg = pickReg(d);
    zreg = d.reg;
  } else if (d.rex && r.chance(0.15)) {
    extraRex = r.int(8);
  }
  const imm = immBytes(d, form.imm ?? 0, memSize);
  const opcode = form.opcode >= 0x0f00 ? [0x0f, form.opcode & 0xff] : [form.opcode];
  const enc = assemble({
    legacy,
    strayRex: alias === undefined && r.chance(0.02) ? 0x40 | r.int(16) : undefined,
    w,
    forceRex: byteRegs ? d.rex : r.chance(0.1),
    extraRex,
    opcode,
    zreg,
    reg: form.modrm ? d.reg : undefined,
    rm,
    imm,
  });
  d.bytes = enc.bytes;
  d.immAt = enc.immAt;
  if (enc.ripDispAt !== undefined) {
    const t = d.target ?? 0n;
    const disp = BigInt.asUintN(32, t - BigInt(d.rip + d.bytes.length));
    le(disp, 4).forEach((b, i) => {
      d.bytes[(enc.ripDispAt ?? 0) + i] = b;
    });
  }
  const at = targetAddr(d);
  if (at !== null && memSize > 0 && r.chance(0.75))
    setMem(d, at, memSize >= 16 ? xmmValue(r) : r.value(), Math.min(memSize, 16));
  if (vector) fillXmm(d);
  shaper?.post?.(d);
  return finish(d);
}

function finish(d: Draft, label = labelOf(d.form, d.size, d.mem, d.alias)): Case {
  const alias = d.alias;
  let nativeCode: Uint8Array | undefined;
  if (alias?.hostDiffers === true) {
    nativeCode = d.bytes.slice();
    const at = nativeCode.indexOf(alias.prefix);
    nativeCode[at] = 0x3e;
  }
  return {
    label,
    rip: d.rip,
    code: d.bytes,
    nativeCode,
    pads: d.pads,
    regs: d.regs.map((x) => x & MASK64),
    rflags: d.rflags,
    patches: runs(d.patches),
    undefinedFlags: d.undefinedFlags,
    undefinedRegs: d.undefinedRegs,
    undefinedMemory: d.undefinedMemory,
    ...(d.memoryMask.length > 0 ? { memoryMask: d.memoryMask } : {}),
    ...(d.fpu === undefined ? {} : { fpu: d.fpu }),
    ...(Object.keys(d.undefinedFpu).length > 0 ? { undefinedFpu: d.undefinedFpu } : {}),
    ...(d.approx === undefined ? {} : { approx: d.approx }),
  };
}

/** `count` cases from `seed`, cycling through the variants (optionally filtered). */
export function generateCases(
  seed: number,
  count: number,
  filter: (v: Variant) => boolean = () => true,
): { cases: Case[]; variants: Variant[] } {
  const rng = new Rng(seed);
  const vs = variants().filter(filter);
  const turn = vs.flatMap((v) => new Array<Variant>(v.weight ?? 1).fill(v));
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const v = turn[i % turn.length];
    if (v === undefined) break;
    cases.push(buildCase(rng, v));
  }
  return { cases, variants: vs };
}
