/**
 * Operand shaping per executor (the table's `handler`): what a random case must look like to
 * exercise a form rather than fault or fall through every time (stack pointers on the stack,
 * branch targets on pads, divisions that mostly do not overflow, string counts that fit the
 * scratch data), and the per-case undefined-flag and undefined-result rules of the SDM that
 * depend on operand values (shift counts, zero sources).
 */

import { RFLAGS } from '../../src/engine/soft/x86_table.js';
import { CODE, CODE_SIZE, DATA, DATA_RW_SIZE, STACK, UNMAPPED } from './scratch.js';
import {
  RAX,
  RBP,
  RBX,
  RCX,
  RDX,
  RDI,
  RSI,
  RSP,
  chooseTarget,
  dataAddress,
  eValue,
  indirectTarget,
  memValue,
  nextRip,
  padTarget,
  pickReg,
  pin,
  regValue,
  setEValue,
  setMem,
  stackPointer,
  trySetReg,
} from './draft.js';
import type { Draft } from './draft.js';

/** Shaping hooks of one executor. */
export interface Shaper {
  /** Before encoding: pin registers, preset immediates, add prefixes. */
  readonly pre?: (d: Draft) => void;
  /** After encoding and the memory operand's value: values that depend on them. */
  readonly post?: (d: Draft) => void;
}

const ARITH = RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.OF;
const MASK64 = (1n << 64n) - 1n;

const stack: Shaper = {
  pre: (d) => {
    pin(d, RSP, stackPointer(d));
  },
};

/** Pops read a random value or an edge value at the top of the stack. */
const popper: Shaper = {
  pre: stack.pre,
  post: (d) => {
    if (d.rng.chance(0.5)) setMem(d, Number(d.regs[RSP] ?? 0n), d.rng.value(), d.size);
  },
};

/** Shift and rotate counts: small, at the operand-size edges, or any byte. */
function count(d: Draft): number {
  const bits = d.size * 8;
  const p = d.rng.u32() / 0x1_0000_0000;
  if (p < 0.5) return d.rng.range(0, bits + 1);
  if (p < 0.75) return d.rng.pick([0, 1, 2, bits - 1, bits, bits + 1, 31, 32, 33, 63, 64, 65, 255]);
  return d.rng.int(256);
}

/** Presets the count: in the immediate for imm8 forms, else in CL. */
function presetCount(d: Draft, clForm: boolean): void {
  const c = BigInt(count(d));
  if (clForm) d.regs[RCX] = ((d.regs[RCX] ?? 0n) & ~0xffn) | c;
  else d.imm = c;
}

/** The count the instruction will use (before masking). */
function finalCount(d: Draft, clForm: boolean, one: boolean): number {
  if (one) return 1;
  if (clForm) return Number((d.regs[RCX] ?? 0n) & 0xffn);
  return Number((d.imm ?? 0n) & 0xffn);
}

/** SDM SAL/SAR/SHL/SHR and RCL/RCR/ROL/ROR, "Flags Affected". */
const shift: Shaper = {
  pre: (d) => {
    const op = d.form.opcode;
    if (op === 0xc0 || op === 0xc1 || op === 0xd2 || op === 0xd3) presetCount(d, op >= 0xd2);
  },
  post: (d) => {
    const op = d.form.opcode;
    const masked = finalCount(d, op >= 0xd2, op === 0xd0 || op === 0xd1) & (d.size === 8 ? 63 : 31);
    const ext = d.form.ext ?? 0;
    let undef = 0;
    if (masked !== 0) {
      // Rotates: OF only for a count of 1. Shifts: AF always, OF unless 1, and SHL/SHR's CF
      // when the count reaches the operand size (8- and 16-bit operands).
      if (masked !== 1) undef |= RFLAGS.OF;
      if (ext >= 4) undef |= RFLAGS.AF;
      if (ext >= 4 && ext !== 7 && masked >= d.size * 8) undef |= RFLAGS.CF;
    }
    d.undefinedFlags = undef;
  },
};

/** SDM SHLD/SHRD: flags as for shifts; a count above the operand size leaves all undefined. */
const shiftDouble: Shaper = {
  pre: (d) => {
    presetCount(d, (d.form.opcode & 1) === 1);
  },
  post: (d) => {
    const clForm = (d.form.opcode & 1) === 1;
    const masked = finalCount(d, clForm, false) & (d.size === 8 ? 63 : 31);
    let undef = 0;
    if (masked > d.size * 8) {
      undef = ARITH;
      if (d.rm !== null) d.undefinedRegs |= 1 << d.rm;
      else d.undefinedMemory = true;
    } else if (masked !== 0) {
      undef = RFLAGS.AF | (masked === 1 ? 0 : RFLAGS.OF);
    }
    d.undefinedFlags = undef;
  },
};

/** Relative branches: the target is a pad within the displacement's reach. */
const relBranch: Shaper = {
  post: (d) => {
    const width = d.bytes.length - d.immAt;
    const nr = nextRip(d);
    let t: number;
    if (width === 1) {
      t = padTarget(d, Math.max(CODE, nr - 128), Math.min(CODE + CODE_SIZE - 2, nr + 127));
    } else if (d.rng.chance(0.04)) {
      t = d.rng.chance(0.5) ? UNMAPPED + d.rng.int(0x100) : CODE - 0x1000;
    } else {
      t = padTarget(d, CODE, CODE + CODE_SIZE - 2);
    }
    const disp = BigInt.asUintN(width * 8, BigInt(t - nr));
    for (let i = 0; i < width; i++) d.bytes[d.immAt + i] = Number((disp >> BigInt(8 * i)) & 0xffn);
  },
};

const loop: Shaper = {
  pre: (d) => {
    if (d.rng.chance(0.6)) {
      d.regs[RCX] = d.rng.pick([
        0n,
        1n,
        2n,
        3n,
        0x1_0000_0000n,
        0x1_0000_0001n,
        0xffff_ffffn,
        MASK64,
      ]);
    }
  },
  post: relBranch.post,
};

const call: Shaper = { pre: stack.pre, post: relBranch.post };

const ret: Shaper = {
  pre: stack.pre,
  post: (d) => {
    setMem(d, Number(d.regs[RSP] ?? 0n), indirectTarget(d), 8);
  },
};

/** CALL/JMP Ev: the register or the memory word holds a pad's address. */
const indirect = (pushes: boolean): Shaper => ({
  pre: pushes ? stack.pre : undefined,
  post: (d) => {
    const t = indirectTarget(d);
    if (d.rm !== null) {
      if (!d.pinned.has(d.rm)) d.regs[d.rm] = t;
    } else {
      const at = Number(d.target ?? 0n);
      if (d.target !== null && d.target < 0x1_0000_0000n) setMem(d, at, t, 8);
    }
  },
});

/** POPF: a flags image without TF (it would trap) and AC (alignment checks in C code). */
const popf: Shaper = {
  pre: stack.pre,
  post: (d) => {
    const v = d.rng.u64() & ~BigInt(RFLAGS.TF | (1 << 18));
    setMem(d, Number(d.regs[RSP] ?? 0n), v, d.size);
  },
};

const enter: Shaper = {
  pre: (d) => {
    pin(d, RSP, stackPointer(d));
    pin(d, RBP, BigInt(STACK + 0x400 + d.rng.int(0x1400)));
    const level = d.rng.chance(0.7) ? d.rng.int(4) : d.rng.int(256);
    const frame = d.rng.chance(0.5) ? BigInt(d.rng.int(64) * 8) : d.rng.valueBits(16);
    d.imm = frame | (BigInt(level) << 16n);
  },
};

const leave: Shaper = {
  pre: (d) => {
    pin(d, RSP, stackPointer(d));
    pin(d, RBP, stackPointer(d));
  },
  post: (d) => {
    setMem(d, Number(d.regs[RBP] ?? 0n), d.rng.value(), d.size);
  },
};

/** DIV/IDIV: mostly a non-zero divisor and a high half that keeps the quotient in range. */
const divide = (signed: boolean): Shaper => ({
  post: (d) => {
    const size = d.size;
    const bits = BigInt(size * 8);
    const m = (1n << bits) - 1n;
    if (eValue(d, size) === 0n && d.rng.chance(0.8))
      setEValue(d, size, d.rng.valueBits(size * 8) | 1n);
    if (!d.rng.chance(0.75)) return;
    const divisor = eValue(d, size);
    const lo = size === 1 ? (d.regs[RAX] ?? 0n) & 0xffn : regValue(d, RAX, size);
    let hi: bigint;
    if (signed && d.rng.chance(0.6)) {
      hi = (lo >> (bits - 1n)) & 1n ? m : 0n;
    } else {
      const mag = signed && divisor >> (bits - 1n) ? ((1n << bits) - divisor) & m : divisor;
      hi = mag > 1n ? d.rng.u64() % (signed ? mag / 2n : mag) : 0n;
    }
    if (size === 1) {
      if (!d.pinned.has(RAX)) d.regs[RAX] = ((d.regs[RAX] ?? 0n) & ~0xff00n) | (hi << 8n);
    } else {
      trySetReg(d, RDX, size, hi);
    }
  },
});

/** String instructions: counts and pointers that stay in DATA, sometimes running into the
 *  read-only page; REPE/REPNE cases get runs of equal elements. */
const string = (kind: 'movs' | 'stos' | 'lods' | 'scas' | 'cmps'): Shaper => ({
  pre: (d) => {
    const r = d.rng;
    const compare = kind === 'scas' || kind === 'cmps';
    const rep = r.pick(compare ? [0, 0xf3, 0xf2] : [0, 0xf3, 0xf3, 0xf2]);
    if (rep !== 0) d.prefixes.push(rep);
    // Byte strings sometimes run past the engine's 4096-iteration chunk (core/string.ts).
    const long = rep !== 0 && d.size === 1 && r.chance(0.05);
    const n = long ? r.range(4097, 0x1c00) : r.chance(0.1) ? 0 : r.range(1, 12);
    const upper = (): bigint => (d.asize === 4 ? r.u64() & ~0xffff_ffffn : 0n);
    if (rep !== 0) pin(d, RCX, BigInt(n) | upper());
    const span = (n + 2) * d.size;
    const down = (d.rflags & BigInt(RFLAGS.DF)) !== 0n;
    const start = (): number =>
      long
        ? down
          ? DATA + DATA_RW_SIZE - 1 - r.int(0x200)
          : DATA + r.int(0x200)
        : dataAddress(d, span + 8);
    let dst = start();
    if (!long && r.chance(0.08)) {
      const k = r.range(1, n + 1) * d.size;
      dst = down ? DATA - d.size + k : DATA + DATA_RW_SIZE - k;
    }
    if (kind !== 'lods') pin(d, RDI, BigInt(dst) | upper());
    if (kind === 'movs' || kind === 'lods' || kind === 'cmps')
      pin(d, RSI, BigInt(start()) | upper());
  },
  post: (d) => {
    if (!compare(kind) || !d.rng.chance(0.6)) return;
    const step = (d.rflags & BigInt(RFLAGS.DF)) !== 0n ? -d.size : d.size;
    const run = d.rng.int(14);
    const di = Number((d.regs[RDI] ?? 0n) & 0xffff_ffffn);
    const si = Number((d.regs[RSI] ?? 0n) & 0xffff_ffffn);
    for (let i = 0; i < run; i++) {
      const v = kind === 'scas' ? regValue(d, RAX, d.size) : memValue(d, si + i * step, d.size);
      setMem(d, di + i * step, v, d.size);
    }
  },
});

function compare(kind: string): boolean {
  return kind === 'scas' || kind === 'cmps';
}

/** CMPXCHG: half the time the accumulator equals the destination. */
const cmpxchg: Shaper = {
  post: (d) => {
    if (d.rng.chance(0.5)) trySetReg(d, RAX, d.size, eValue(d, d.size));
  },
};

/** CMPXCHG8B: half the time EDX:EAX equals the memory quadword. */
const cmpxchg8b: Shaper = {
  post: (d) => {
    if (!d.rng.chance(0.5)) return;
    const v = eValue(d, 8);
    trySetReg(d, RAX, 4, v & 0xffff_ffffn);
    trySetReg(d, RDX, 4, v >> 32n);
  },
};

/**
 * BT* with a register offset and a memory operand: the offset register is chosen and pinned
 * here; offsets mostly stay in DATA, some reach the stack, the gaps and the read-only page
 * (never the code region or beyond the scratch area, where the host has other mappings).
 */
const bitTest: Shaper = {
  pre: (d) => {
    if (d.mem) d.target = BigInt(dataAddress(d, 0x100));
    if (d.form.opcode === 0x0fba) return;
    d.reg = pickReg(d);
    const full = d.size === 1 && !d.rex && d.reg >= 4 && d.reg < 8 ? d.reg - 4 : d.reg;
    const span = d.rng.chance(0.7) ? 512 : 1 << 19;
    const off = BigInt.asUintN(64, BigInt(d.rng.range(-span, span - 1)));
    d.regs[full] =
      ((d.regs[full] ?? 0n) & ~((1n << BigInt(d.size * 8)) - 1n)) |
      (off & ((1n << BigInt(d.size * 8)) - 1n));
    d.pinned.add(full);
  },
};

/** BSF/BSR: a zero source sometimes; then the destination is undefined (SDM). */
const bitScan: Shaper = {
  post: (d) => {
    if (d.rng.chance(0.2)) setEValue(d, d.size, 0n);
    if (eValue(d, d.size) === 0n) d.undefinedRegs |= 1 << d.reg;
  },
};

/** BSWAP of a 16-bit register is undefined (SDM BSWAP). */
const bswap: Shaper = {
  post: (d) => {
    if (d.size === 2) d.undefinedRegs |= 1 << d.reg;
  },
};

/** XLAT: RBX + AL points at data. */
const xlat: Shaper = {
  pre: (d) => {
    const al = (d.regs[RAX] ?? 0n) & 0xffn;
    const t = chooseTarget(d, 1);
    const upper = d.asize === 4 ? d.rng.u64() & ~0xffff_ffffn : 0n;
    const rbx = d.asize === 4 ? ((t - al) & 0xffff_ffffn) | upper : t - al;
    pin(d, RBX, BigInt.asUintN(64, rbx));
  },
};

/** Shapers by executor name; executors without one need nothing special. */
export const SHAPERS: Readonly<Record<string, Shaper>> = {
  shiftGrp: shift,
  shxd: shiftDouble,
  divE: divide(false),
  idivE: divide(true),
  jcc: relBranch,
  jmpRel: relBranch,
  callRel: call,
  loop,
  retNear: ret,
  callE: indirect(true),
  jmpE: indirect(false),
  pushZ: stack,
  pushI: stack,
  pushE: stack,
  pushf: stack,
  popZ: popper,
  popE: popper,
  popf,
  enter,
  leave,
  movs: string('movs'),
  stos: string('stos'),
  lods: string('lods'),
  scas: string('scas'),
  cmps: string('cmps'),
  cmpxchg,
  cmpxchg8b,
  btEG: bitTest,
  btEI: bitTest,
  bsf: bitScan,
  bsr: bitScan,
  bswapZ: bswap,
  xlat,
};
