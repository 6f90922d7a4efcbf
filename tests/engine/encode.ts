/**
 * A small x86-64 instruction encoder for the differential test's case generator: legacy
 * prefixes, REX, opcode, ModRM with every 64-bit addressing form (SIB, no-base, RIP-relative,
 * disp8/disp32) and immediates (SDM Vol. 2, chapter 2).
 */

/** A memory operand; registers are 0–15 in encoding order. */
export interface MemOperand {
  /** Base register, `rip` for RIP-relative, or null for none. */
  base: number | 'rip' | null;
  /** Index register (never 4, which means "none"), or null. */
  index: number | null;
  /** log2 of the index scale. */
  scale: number;
  /** Displacement, a signed 32-bit value. */
  disp: number;
  /** Bytes of displacement: 0 (only with a base whose low bits are not 5), 1 or 4. */
  dispSize: 0 | 1 | 4;
}

/** An instruction to encode. */
export interface Instruction {
  /** Legacy prefixes, in order. */
  legacy: number[];
  /** Put this byte (a REX the CPU must ignore) before the last legacy prefix. */
  strayRex?: number;
  /** REX.W. */
  w: boolean;
  /** Emit a REX prefix even if no bit is needed (byte registers 4–7 become SPL..DIL). */
  forceRex: boolean;
  /** Extra REX bits to set (e.g. REX.R on a group opcode, where the CPU ignores it). */
  extraRex?: number;
  /** Opcode bytes; for register-in-opcode forms, the low 3 bits of the last one are added. */
  opcode: number[];
  /** Register encoded in the opcode's low 3 bits (Z operands), 0–15. */
  zreg?: number;
  /** ModRM.reg, 0–15, when the form has ModRM. */
  reg?: number;
  /** ModRM.rm: a register 0–15 or a memory operand. */
  rm?: number | MemOperand;
  /** Immediate bytes, little-endian. */
  imm: number[];
}

/** An encoded instruction. */
export interface Encoded {
  bytes: Uint8Array;
  /** Offset of the 4-byte RIP-relative displacement, if any. */
  ripDispAt?: number;
  /** Offset of the immediate. */
  immAt: number;
}

/** Little-endian bytes of the low `n` bytes of `v`. */
export function le(v: bigint, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

function modrmBytes(
  reg: number,
  rm: number | MemOperand,
): { bytes: number[]; rex: number; ripDisp?: number } {
  let rex = reg >= 8 ? 4 : 0;
  if (typeof rm === 'number') {
    if (rm >= 8) rex |= 1;
    return { bytes: [0xc0 | ((reg & 7) << 3) | (rm & 7)], rex };
  }
  const r3 = (reg & 7) << 3;
  const disp = le(BigInt.asUintN(32, BigInt(rm.disp)), rm.dispSize);
  if (rm.base === 'rip') {
    return { bytes: [0x05 | r3, ...le(BigInt.asUintN(32, BigInt(rm.disp)), 4)], rex, ripDisp: 1 };
  }
  const mod = rm.dispSize === 0 ? 0 : rm.dispSize === 1 ? 1 : 2;
  if (rm.index === null && rm.base !== null && (rm.base & 7) !== 4) {
    if (rm.base >= 8) rex |= 1;
    return { bytes: [(mod << 6) | r3 | (rm.base & 7), ...disp], rex };
  }
  // A SIB byte: index 100 without REX.X means none; base 101 with mod 00 means disp32 only.
  const index = rm.index === null ? 4 : rm.index;
  if (index >= 8) rex |= 2;
  if (rm.base === null) {
    const d32 = le(BigInt.asUintN(32, BigInt(rm.disp)), 4);
    return { bytes: [0x04 | r3, (rm.scale << 6) | ((index & 7) << 3) | 5, ...d32], rex };
  }
  if (rm.base >= 8) rex |= 1;
  return {
    bytes: [(mod << 6) | r3 | 4, (rm.scale << 6) | ((index & 7) << 3) | (rm.base & 7), ...disp],
    rex,
  };
}

/** Encodes `insn`. */
export function assemble(insn: Instruction): Encoded {
  let rex = (insn.w ? 8 : 0) | (insn.extraRex ?? 0);
  const opcode = [...insn.opcode];
  if (insn.zreg !== undefined) {
    const last = opcode.length - 1;
    opcode[last] = (opcode[last] ?? 0) | (insn.zreg & 7);
    if (insn.zreg >= 8) rex |= 1;
  }
  let tail: number[] = [];
  let ripDisp: number | undefined;
  if (insn.rm !== undefined) {
    const m = modrmBytes(insn.reg ?? 0, insn.rm);
    rex |= m.rex;
    tail = m.bytes;
    ripDisp = m.ripDisp;
  }
  const out = [...insn.legacy];
  if (insn.strayRex !== undefined && out.length > 0) out.splice(out.length - 1, 0, insn.strayRex);
  if (rex !== 0 || insn.forceRex) out.push(0x40 | rex);
  out.push(...opcode);
  const modrmAt = out.length;
  out.push(...tail);
  const immAt = out.length;
  out.push(...insn.imm);
  const enc: Encoded = { bytes: Uint8Array.from(out), immAt };
  if (ripDisp !== undefined) enc.ripDispAt = modrmAt + ripDisp;
  return enc;
}

/** Writes `v` as `n` little-endian bytes at `at`. */
export function patchBytes(bytes: Uint8Array, at: number, v: bigint, n: number): void {
  le(v, n).forEach((b, i) => {
    bytes[at + i] = b;
  });
}
