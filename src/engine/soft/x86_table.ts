/**
 * The software engine's opcode table: one row per instruction form. The AssemblyScript
 * decoder's tables are generated from it at build time (scripts/gen_x86_table.mjs), and the
 * engine tests are driven from it, so an instruction exists for the decoder exactly when it
 * exists here.
 *
 * Operand notation follows the Intel SDM Vol. 2, Appendix A.2: E = ModRM r/m, G = ModRM reg,
 * I = immediate, J = relative offset, Z = register in the opcode's low 3 bits, O = moffs;
 * size suffixes b (byte), w (word), v (16/32/64 by operand size), z (16/32 by operand size,
 * sign-extended to 64), q (quadword).
 */

import { sseForms } from './x86_table_sse.js';
import { systemForms } from './x86_table_system.js';

/** Immediate and displacement shapes the decoder reads after ModRM/SIB. */
export const ImmKind = {
  none: 0,
  /** 8-bit immediate, sign-extended to the operand size where the form says so. */
  ib: 1,
  /** 16-bit immediate. */
  iw: 2,
  /** 16 or 32 bits by operand size; sign-extended to 64 for 64-bit operands. */
  iz: 3,
  /** 16, 32 or 64 bits by operand size (MOV r, imm). */
  iv: 4,
  /** A 16-bit immediate followed by an 8-bit one (ENTER). */
  iwib: 5,
  /** An address-size-wide absolute offset (MOV AL, moffs). */
  moffs: 6,
} as const;

/** One instruction form. */
export interface OpcodeForm {
  /** Map and opcode: 0x00–0xff for the one-byte map, 0x0f00–0x0fff for the two-byte map. */
  readonly opcode: number;
  /** ModRM.reg digit for group encodings (`/0` … `/7`). */
  readonly ext?: number;
  /** Assembler mnemonic, for messages and tests. */
  readonly mnemonic: string;
  /** Operands in SDM Appendix A notation, destination first. */
  readonly operands: readonly string[];
  /** Name of the executor in the engine core (core/exec_*.ts). */
  readonly handler: string;
  /** The form reads a ModRM byte. */
  readonly modrm?: boolean;
  /** Immediate shape; `none` when absent. */
  readonly imm?: number;
  /** Byte-sized operation (the `b` forms). */
  readonly byteOp?: boolean;
  /** Operand size defaults to 64 bits in 64-bit mode (SDM Table B-?: "d64"). */
  readonly d64?: boolean;
  /** Operand size is always 64 bits in 64-bit mode ("f64": near branches). */
  readonly f64?: boolean;
  /** Invalid in 64-bit mode ("i64"). */
  readonly i64?: boolean;
  /** A LOCK prefix is allowed when the destination is memory. */
  readonly lockable?: boolean;
  /**
   * Flags the SDM may leave undefined after this form, as an RFLAGS mask: the union over all
   * operands. Differential tests mask them, narrowed per case where the rule in `undefinedWhy`
   * depends on an operand (a shift count, a zero source; tests/engine/shapers.ts).
   */
  readonly undefinedFlags?: number;
  /** Why `undefinedFlags` are undefined. */
  readonly undefinedWhy?: string;
  /** Encodings with a mandatory prefix that this form executes (see {@link PrefixAlias}). */
  readonly aliases?: readonly PrefixAlias[];
  /**
   * Mandatory prefix selecting this form: 0 (none), 0x66, 0xF3 or 0xF2 (SDM Vol. 2, 2.1.2).
   * An opcode with one such form has only such forms; the decoder picks the form by the last
   * F2/F3 prefix, else 66, and a prefix consumed this way does not change the operand size.
   */
  readonly prefix?: number;
  /** The form exists only with a memory (`mem`) or a register (`reg`) ModRM operand. */
  readonly mod?: 'mem' | 'reg';
  /** ModRM.rm digit of a register form (x87 `DB E3`); requires `ext` and `mod: 'reg'`. */
  readonly rm?: number;
}

/**
 * An encoding that, on the CPU the engine models, runs as its unprefixed form: `F3 0F BC`
 * (TZCNT) is BSF while CPUID does not advertise BMI1, and `F3 90` (PAUSE) is NOP.
 */
export interface PrefixAlias {
  /** The mandatory prefix byte, placed right before REX and the opcode. */
  readonly prefix: number;
  readonly mnemonic: string;
  readonly why: string;
  /**
   * A host CPU that has the feature runs the encoding differently, so a differential test
   * compares against the unprefixed form (the prefix replaced by an ignored DS override).
   */
  readonly hostDiffers?: boolean;
}

/** RFLAGS bits (SDM Vol. 1, 3.4.3). */
export const RFLAGS = {
  CF: 1 << 0,
  PF: 1 << 2,
  AF: 1 << 4,
  ZF: 1 << 6,
  SF: 1 << 7,
  TF: 1 << 8,
  IF: 1 << 9,
  DF: 1 << 10,
  OF: 1 << 11,
} as const;

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
const CC_NAMES = [
  'o',
  'no',
  'b',
  'ae',
  'e',
  'ne',
  'be',
  'a',
  's',
  'ns',
  'p',
  'np',
  'l',
  'ge',
  'le',
  'g',
];
const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const;

const { ib, iz, iv, iw, iwib, moffs } = ImmKind;
const LOGIC_AF = {
  undefinedFlags: RFLAGS.AF,
  undefinedWhy: 'SDM: AND/OR/XOR/TEST leave AF undefined',
};
const SHIFT_UNDEF = {
  undefinedFlags: RFLAGS.OF | RFLAGS.AF,
  undefinedWhy: 'SDM: OF is defined only for 1-bit shifts; AF is undefined for a non-zero count',
};
const SHL_SHR_UNDEF = {
  undefinedFlags: RFLAGS.OF | RFLAGS.AF | RFLAGS.CF,
  undefinedWhy:
    SHIFT_UNDEF.undefinedWhy +
    '; SHL/SHR leave CF undefined when the count is at least the operand size (8/16-bit operands)',
};

function aluForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  ALU_NAMES.forEach((name, op) => {
    const base = op << 3;
    const logic = name === 'and' || name === 'or' || name === 'xor' ? LOGIC_AF : {};
    const lockable = name !== 'cmp';
    forms.push(
      {
        opcode: base,
        mnemonic: name,
        operands: ['Eb', 'Gb'],
        handler: 'aluEG',
        modrm: true,
        byteOp: true,
        lockable,
        ...logic,
      },
      {
        opcode: base + 1,
        mnemonic: name,
        operands: ['Ev', 'Gv'],
        handler: 'aluEG',
        modrm: true,
        lockable,
        ...logic,
      },
      {
        opcode: base + 2,
        mnemonic: name,
        operands: ['Gb', 'Eb'],
        handler: 'aluGE',
        modrm: true,
        byteOp: true,
        ...logic,
      },
      {
        opcode: base + 3,
        mnemonic: name,
        operands: ['Gv', 'Ev'],
        handler: 'aluGE',
        modrm: true,
        ...logic,
      },
      {
        opcode: base + 4,
        mnemonic: name,
        operands: ['AL', 'Ib'],
        handler: 'aluAI',
        imm: ib,
        byteOp: true,
        ...logic,
      },
      {
        opcode: base + 5,
        mnemonic: name,
        operands: ['rAX', 'Iz'],
        handler: 'aluAI',
        imm: iz,
        ...logic,
      },
      {
        opcode: 0x80,
        ext: op,
        mnemonic: name,
        operands: ['Eb', 'Ib'],
        handler: 'aluEI',
        modrm: true,
        imm: ib,
        byteOp: true,
        lockable,
        ...logic,
      },
      {
        opcode: 0x81,
        ext: op,
        mnemonic: name,
        operands: ['Ev', 'Iz'],
        handler: 'aluEI',
        modrm: true,
        imm: iz,
        lockable,
        ...logic,
      },
      {
        opcode: 0x83,
        ext: op,
        mnemonic: name,
        operands: ['Ev', 'Ib'],
        handler: 'aluEI',
        modrm: true,
        imm: ib,
        lockable,
        ...logic,
      },
    );
  });
  return forms;
}

function regForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  for (let r = 0; r < 8; r++) {
    forms.push(
      { opcode: 0x50 + r, mnemonic: 'push', operands: ['Zv'], handler: 'pushZ', d64: true },
      { opcode: 0x58 + r, mnemonic: 'pop', operands: ['Zv'], handler: 'popZ', d64: true },
      {
        opcode: 0xb0 + r,
        mnemonic: 'mov',
        operands: ['Zb', 'Ib'],
        handler: 'movZI',
        imm: ib,
        byteOp: true,
      },
      { opcode: 0xb8 + r, mnemonic: 'mov', operands: ['Zv', 'Iv'], handler: 'movZI', imm: iv },
      { opcode: 0x0fc8 + r, mnemonic: 'bswap', operands: ['Zv'], handler: 'bswapZ' },
      // Outside 64-bit mode only: there 40–4F are REX prefixes.
      { opcode: 0x40 + r, mnemonic: 'inc', operands: ['Zv'], handler: 'incDecZ', i64: true },
      { opcode: 0x48 + r, mnemonic: 'dec', operands: ['Zv'], handler: 'incDecZ', i64: true },
    );
    if (r !== 0)
      forms.push({
        opcode: 0x90 + r,
        mnemonic: 'xchg',
        operands: ['Zv', 'rAX'],
        handler: 'xchgZA',
      });
  }
  return forms;
}

function branchForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  CC_NAMES.forEach((cc, n) => {
    forms.push(
      {
        opcode: 0x70 + n,
        mnemonic: `j${cc}`,
        operands: ['Jb'],
        handler: 'jcc',
        imm: ib,
        f64: true,
      },
      {
        opcode: 0x0f80 + n,
        mnemonic: `j${cc}`,
        operands: ['Jz'],
        handler: 'jcc',
        imm: iz,
        f64: true,
      },
      {
        opcode: 0x0f90 + n,
        mnemonic: `set${cc}`,
        operands: ['Eb'],
        handler: 'setcc',
        modrm: true,
        byteOp: true,
      },
      {
        opcode: 0x0f40 + n,
        mnemonic: `cmov${cc}`,
        operands: ['Gv', 'Ev'],
        handler: 'cmovcc',
        modrm: true,
      },
    );
  });
  forms.push(
    { opcode: 0xe8, mnemonic: 'call', operands: ['Jz'], handler: 'callRel', imm: iz, f64: true },
    { opcode: 0xe9, mnemonic: 'jmp', operands: ['Jz'], handler: 'jmpRel', imm: iz, f64: true },
    { opcode: 0xeb, mnemonic: 'jmp', operands: ['Jb'], handler: 'jmpRel', imm: ib, f64: true },
    { opcode: 0xc3, mnemonic: 'ret', operands: [], handler: 'retNear', f64: true },
    { opcode: 0xc2, mnemonic: 'ret', operands: ['Iw'], handler: 'retNear', imm: iw, f64: true },
    { opcode: 0xe0, mnemonic: 'loopne', operands: ['Jb'], handler: 'loop', imm: ib, f64: true },
    { opcode: 0xe1, mnemonic: 'loope', operands: ['Jb'], handler: 'loop', imm: ib, f64: true },
    { opcode: 0xe2, mnemonic: 'loop', operands: ['Jb'], handler: 'loop', imm: ib, f64: true },
    { opcode: 0xe3, mnemonic: 'jrcxz', operands: ['Jb'], handler: 'loop', imm: ib, f64: true },
  );
  return forms;
}

function shiftForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  SHIFT_NAMES.forEach((name, n) => {
    const rot = n < 4;
    const undef = rot
      ? { undefinedFlags: RFLAGS.OF, undefinedWhy: 'SDM: OF is defined only for 1-bit rotates' }
      : name === 'sar'
        ? SHIFT_UNDEF
        : SHL_SHR_UNDEF;
    forms.push(
      {
        opcode: 0xc0,
        ext: n,
        mnemonic: name,
        operands: ['Eb', 'Ib'],
        handler: 'shiftGrp',
        modrm: true,
        imm: ib,
        byteOp: true,
        ...undef,
      },
      {
        opcode: 0xc1,
        ext: n,
        mnemonic: name,
        operands: ['Ev', 'Ib'],
        handler: 'shiftGrp',
        modrm: true,
        imm: ib,
        ...undef,
      },
      {
        opcode: 0xd0,
        ext: n,
        mnemonic: name,
        operands: ['Eb', '1'],
        handler: 'shiftGrp',
        modrm: true,
        byteOp: true,
        ...undef,
      },
      {
        opcode: 0xd1,
        ext: n,
        mnemonic: name,
        operands: ['Ev', '1'],
        handler: 'shiftGrp',
        modrm: true,
        ...undef,
      },
      {
        opcode: 0xd2,
        ext: n,
        mnemonic: name,
        operands: ['Eb', 'CL'],
        handler: 'shiftGrp',
        modrm: true,
        byteOp: true,
        ...undef,
      },
      {
        opcode: 0xd3,
        ext: n,
        mnemonic: name,
        operands: ['Ev', 'CL'],
        handler: 'shiftGrp',
        modrm: true,
        ...undef,
      },
    );
  });
  return forms;
}

const MUL_UNDEF = {
  undefinedFlags: RFLAGS.SF | RFLAGS.ZF | RFLAGS.AF | RFLAGS.PF,
  undefinedWhy: 'SDM: MUL/IMUL leave SF, ZF, AF and PF undefined',
};
const DIV_UNDEF = {
  undefinedFlags: RFLAGS.CF | RFLAGS.OF | RFLAGS.SF | RFLAGS.ZF | RFLAGS.AF | RFLAGS.PF,
  undefinedWhy: 'SDM: DIV/IDIV leave every status flag undefined',
};

function group3Forms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  for (const [opcode, byteOp] of [
    [0xf6, true],
    [0xf7, false],
  ] as const) {
    const e = byteOp ? 'Eb' : 'Ev';
    forms.push(
      {
        opcode,
        ext: 0,
        mnemonic: 'test',
        operands: [e, byteOp ? 'Ib' : 'Iz'],
        handler: 'testEI',
        modrm: true,
        imm: byteOp ? ib : iz,
        byteOp,
        ...LOGIC_AF,
      },
      {
        opcode,
        ext: 2,
        mnemonic: 'not',
        operands: [e],
        handler: 'notE',
        modrm: true,
        byteOp,
        lockable: true,
      },
      {
        opcode,
        ext: 3,
        mnemonic: 'neg',
        operands: [e],
        handler: 'negE',
        modrm: true,
        byteOp,
        lockable: true,
      },
      {
        opcode,
        ext: 4,
        mnemonic: 'mul',
        operands: [e],
        handler: 'mulE',
        modrm: true,
        byteOp,
        ...MUL_UNDEF,
      },
      {
        opcode,
        ext: 5,
        mnemonic: 'imul',
        operands: [e],
        handler: 'imulE',
        modrm: true,
        byteOp,
        ...MUL_UNDEF,
      },
      {
        opcode,
        ext: 6,
        mnemonic: 'div',
        operands: [e],
        handler: 'divE',
        modrm: true,
        byteOp,
        ...DIV_UNDEF,
      },
      {
        opcode,
        ext: 7,
        mnemonic: 'idiv',
        operands: [e],
        handler: 'idivE',
        modrm: true,
        byteOp,
        ...DIV_UNDEF,
      },
    );
  }
  return forms;
}

function stringForms(): OpcodeForm[] {
  return [
    { opcode: 0xa4, mnemonic: 'movsb', operands: [], handler: 'movs', byteOp: true },
    { opcode: 0xa5, mnemonic: 'movs', operands: [], handler: 'movs' },
    { opcode: 0xa6, mnemonic: 'cmpsb', operands: [], handler: 'cmps', byteOp: true },
    { opcode: 0xa7, mnemonic: 'cmps', operands: [], handler: 'cmps' },
    { opcode: 0xaa, mnemonic: 'stosb', operands: [], handler: 'stos', byteOp: true },
    { opcode: 0xab, mnemonic: 'stos', operands: [], handler: 'stos' },
    { opcode: 0xac, mnemonic: 'lodsb', operands: [], handler: 'lods', byteOp: true },
    { opcode: 0xad, mnemonic: 'lods', operands: [], handler: 'lods' },
    { opcode: 0xae, mnemonic: 'scasb', operands: [], handler: 'scas', byteOp: true },
    { opcode: 0xaf, mnemonic: 'scas', operands: [], handler: 'scas' },
  ];
}

function portForms(): OpcodeForm[] {
  return [
    {
      opcode: 0xe4,
      mnemonic: 'in',
      operands: ['AL', 'Ib'],
      handler: 'inPort',
      imm: ib,
      byteOp: true,
    },
    { opcode: 0xe5, mnemonic: 'in', operands: ['eAX', 'Ib'], handler: 'inPort', imm: ib },
    {
      opcode: 0xe6,
      mnemonic: 'out',
      operands: ['Ib', 'AL'],
      handler: 'outPort',
      imm: ib,
      byteOp: true,
    },
    { opcode: 0xe7, mnemonic: 'out', operands: ['Ib', 'eAX'], handler: 'outPort', imm: ib },
    { opcode: 0xec, mnemonic: 'in', operands: ['AL', 'DX'], handler: 'inPort', byteOp: true },
    { opcode: 0xed, mnemonic: 'in', operands: ['eAX', 'DX'], handler: 'inPort' },
    { opcode: 0xee, mnemonic: 'out', operands: ['DX', 'AL'], handler: 'outPort', byteOp: true },
    { opcode: 0xef, mnemonic: 'out', operands: ['DX', 'eAX'], handler: 'outPort' },
  ];
}

function miscForms(): OpcodeForm[] {
  return [
    { opcode: 0x63, mnemonic: 'movsxd', operands: ['Gv', 'Ed'], handler: 'movsxd', modrm: true },
    { opcode: 0x68, mnemonic: 'push', operands: ['Iz'], handler: 'pushI', imm: iz, d64: true },
    { opcode: 0x6a, mnemonic: 'push', operands: ['Ib'], handler: 'pushI', imm: ib, d64: true },
    {
      opcode: 0x69,
      mnemonic: 'imul',
      operands: ['Gv', 'Ev', 'Iz'],
      handler: 'imulGEI',
      modrm: true,
      imm: iz,
      ...MUL_UNDEF,
    },
    {
      opcode: 0x6b,
      mnemonic: 'imul',
      operands: ['Gv', 'Ev', 'Ib'],
      handler: 'imulGEI',
      modrm: true,
      imm: ib,
      ...MUL_UNDEF,
    },
    {
      opcode: 0x0faf,
      mnemonic: 'imul',
      operands: ['Gv', 'Ev'],
      handler: 'imulGE',
      modrm: true,
      ...MUL_UNDEF,
    },
    {
      opcode: 0x84,
      mnemonic: 'test',
      operands: ['Eb', 'Gb'],
      handler: 'testEG',
      modrm: true,
      byteOp: true,
      ...LOGIC_AF,
    },
    {
      opcode: 0x85,
      mnemonic: 'test',
      operands: ['Ev', 'Gv'],
      handler: 'testEG',
      modrm: true,
      ...LOGIC_AF,
    },
    {
      opcode: 0xa8,
      mnemonic: 'test',
      operands: ['AL', 'Ib'],
      handler: 'testAI',
      imm: ib,
      byteOp: true,
      ...LOGIC_AF,
    },
    {
      opcode: 0xa9,
      mnemonic: 'test',
      operands: ['rAX', 'Iz'],
      handler: 'testAI',
      imm: iz,
      ...LOGIC_AF,
    },
    {
      opcode: 0x86,
      mnemonic: 'xchg',
      operands: ['Eb', 'Gb'],
      handler: 'xchgEG',
      modrm: true,
      byteOp: true,
      lockable: true,
    },
    {
      opcode: 0x87,
      mnemonic: 'xchg',
      operands: ['Ev', 'Gv'],
      handler: 'xchgEG',
      modrm: true,
      lockable: true,
    },
    {
      opcode: 0x88,
      mnemonic: 'mov',
      operands: ['Eb', 'Gb'],
      handler: 'movEG',
      modrm: true,
      byteOp: true,
    },
    { opcode: 0x89, mnemonic: 'mov', operands: ['Ev', 'Gv'], handler: 'movEG', modrm: true },
    {
      opcode: 0x8a,
      mnemonic: 'mov',
      operands: ['Gb', 'Eb'],
      handler: 'movGE',
      modrm: true,
      byteOp: true,
    },
    { opcode: 0x8b, mnemonic: 'mov', operands: ['Gv', 'Ev'], handler: 'movGE', modrm: true },
    { opcode: 0x8d, mnemonic: 'lea', operands: ['Gv', 'M'], handler: 'lea', modrm: true },
    {
      opcode: 0x8f,
      ext: 0,
      mnemonic: 'pop',
      operands: ['Ev'],
      handler: 'popE',
      modrm: true,
      d64: true,
    },
    {
      opcode: 0x90,
      mnemonic: 'nop',
      operands: [],
      handler: 'nop',
      aliases: [{ prefix: 0xf3, mnemonic: 'pause', why: 'SDM PAUSE: a hint; NOP to the engine' }],
    },
    { opcode: 0x9e, mnemonic: 'sahf', operands: [], handler: 'sahf' },
    { opcode: 0x9f, mnemonic: 'lahf', operands: [], handler: 'lahf' },
    { opcode: 0xd7, mnemonic: 'xlat', operands: [], handler: 'xlat' },
    { opcode: 0x98, mnemonic: 'cbw', operands: [], handler: 'cbw' },
    { opcode: 0x99, mnemonic: 'cwd', operands: [], handler: 'cwd' },
    { opcode: 0x9c, mnemonic: 'pushf', operands: [], handler: 'pushf', d64: true },
    { opcode: 0x9d, mnemonic: 'popf', operands: [], handler: 'popf', d64: true },
    {
      opcode: 0xa0,
      mnemonic: 'mov',
      operands: ['AL', 'Ob'],
      handler: 'movAO',
      imm: moffs,
      byteOp: true,
    },
    { opcode: 0xa1, mnemonic: 'mov', operands: ['rAX', 'Ov'], handler: 'movAO', imm: moffs },
    {
      opcode: 0xa2,
      mnemonic: 'mov',
      operands: ['Ob', 'AL'],
      handler: 'movOA',
      imm: moffs,
      byteOp: true,
    },
    { opcode: 0xa3, mnemonic: 'mov', operands: ['Ov', 'rAX'], handler: 'movOA', imm: moffs },
    {
      opcode: 0xc6,
      ext: 0,
      mnemonic: 'mov',
      operands: ['Eb', 'Ib'],
      handler: 'movEI',
      modrm: true,
      imm: ib,
      byteOp: true,
    },
    {
      opcode: 0xc7,
      ext: 0,
      mnemonic: 'mov',
      operands: ['Ev', 'Iz'],
      handler: 'movEI',
      modrm: true,
      imm: iz,
    },
    {
      opcode: 0xc8,
      mnemonic: 'enter',
      operands: ['Iw', 'Ib'],
      handler: 'enter',
      imm: iwib,
      d64: true,
    },
    { opcode: 0xc9, mnemonic: 'leave', operands: [], handler: 'leave', d64: true },
    { opcode: 0xf4, mnemonic: 'hlt', operands: [], handler: 'hlt' },
    { opcode: 0xf5, mnemonic: 'cmc', operands: [], handler: 'flagOp' },
    { opcode: 0xf8, mnemonic: 'clc', operands: [], handler: 'flagOp' },
    { opcode: 0xf9, mnemonic: 'stc', operands: [], handler: 'flagOp' },
    { opcode: 0xfa, mnemonic: 'cli', operands: [], handler: 'flagOp' },
    { opcode: 0xfb, mnemonic: 'sti', operands: [], handler: 'flagOp' },
    { opcode: 0xfc, mnemonic: 'cld', operands: [], handler: 'flagOp' },
    { opcode: 0xfd, mnemonic: 'std', operands: [], handler: 'flagOp' },
    {
      opcode: 0xfe,
      ext: 0,
      mnemonic: 'inc',
      operands: ['Eb'],
      handler: 'incDec',
      modrm: true,
      byteOp: true,
      lockable: true,
    },
    {
      opcode: 0xfe,
      ext: 1,
      mnemonic: 'dec',
      operands: ['Eb'],
      handler: 'incDec',
      modrm: true,
      byteOp: true,
      lockable: true,
    },
    {
      opcode: 0xff,
      ext: 0,
      mnemonic: 'inc',
      operands: ['Ev'],
      handler: 'incDec',
      modrm: true,
      lockable: true,
    },
    {
      opcode: 0xff,
      ext: 1,
      mnemonic: 'dec',
      operands: ['Ev'],
      handler: 'incDec',
      modrm: true,
      lockable: true,
    },
    {
      opcode: 0xff,
      ext: 2,
      mnemonic: 'call',
      operands: ['Ev'],
      handler: 'callE',
      modrm: true,
      f64: true,
    },
    {
      opcode: 0xff,
      ext: 4,
      mnemonic: 'jmp',
      operands: ['Ev'],
      handler: 'jmpE',
      modrm: true,
      f64: true,
    },
    {
      opcode: 0xff,
      ext: 6,
      mnemonic: 'push',
      operands: ['Ev'],
      handler: 'pushE',
      modrm: true,
      d64: true,
    },
    { opcode: 0x0f0b, mnemonic: 'ud2', operands: [], handler: 'ud' },
    { opcode: 0x0fa2, mnemonic: 'cpuid', operands: [], handler: 'cpuid' },
    { opcode: 0x0fb6, mnemonic: 'movzx', operands: ['Gv', 'Eb'], handler: 'movzxb', modrm: true },
    { opcode: 0x0fb7, mnemonic: 'movzx', operands: ['Gv', 'Ew'], handler: 'movzxw', modrm: true },
    { opcode: 0x0fbe, mnemonic: 'movsx', operands: ['Gv', 'Eb'], handler: 'movsxb', modrm: true },
    { opcode: 0x0fbf, mnemonic: 'movsx', operands: ['Gv', 'Ew'], handler: 'movsxw', modrm: true },
  ];
}

const BT_NAMES = ['bt', 'bts', 'btr', 'btc'] as const;
const BT_UNDEF = {
  undefinedFlags: RFLAGS.OF | RFLAGS.SF | RFLAGS.AF | RFLAGS.PF,
  undefinedWhy: 'SDM: BT/BTS/BTR/BTC leave OF, SF, AF and PF undefined (ZF is unaffected)',
};
const BSF_UNDEF = {
  undefinedFlags: RFLAGS.CF | RFLAGS.OF | RFLAGS.SF | RFLAGS.AF | RFLAGS.PF,
  undefinedWhy:
    'SDM: BSF/BSR leave CF, OF, SF, AF and PF undefined, and the destination when the source is 0',
};
const SHIFT_DOUBLE_UNDEF = {
  undefinedFlags: RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.OF,
  undefinedWhy:
    'SDM: SHLD/SHRD define OF only for a count of 1 and leave AF undefined for a non-zero count; ' +
    'a count above the operand size (16-bit forms) leaves the result and every flag undefined',
};

/** Bit tests, bit scans and double-precision shifts (0F A3–BD). */
function bitForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [];
  BT_NAMES.forEach((name, n) => {
    const lockable = n > 0;
    forms.push(
      {
        opcode: 0x0fa3 + 8 * n,
        mnemonic: name,
        operands: ['Ev', 'Gv'],
        handler: 'btEG',
        modrm: true,
        lockable,
        ...BT_UNDEF,
      },
      {
        opcode: 0x0fba,
        ext: 4 + n,
        mnemonic: name,
        operands: ['Ev', 'Ib'],
        handler: 'btEI',
        modrm: true,
        imm: ib,
        lockable,
        ...BT_UNDEF,
      },
    );
  });
  const notAdvertised = (feature: string): string =>
    `a REP prefix is ignored while CPUID does not advertise ${feature}, as on CPUs without it`;
  forms.push(
    {
      opcode: 0x0fbc,
      mnemonic: 'bsf',
      operands: ['Gv', 'Ev'],
      handler: 'bsf',
      modrm: true,
      ...BSF_UNDEF,
      aliases: [{ prefix: 0xf3, mnemonic: 'tzcnt', why: notAdvertised('BMI1'), hostDiffers: true }],
    },
    {
      opcode: 0x0fbd,
      mnemonic: 'bsr',
      operands: ['Gv', 'Ev'],
      handler: 'bsr',
      modrm: true,
      ...BSF_UNDEF,
      aliases: [{ prefix: 0xf3, mnemonic: 'lzcnt', why: notAdvertised('ABM'), hostDiffers: true }],
    },
  );
  for (const [opcode, mnemonic, count] of [
    [0x0fa4, 'shld', 'Ib'],
    [0x0fa5, 'shld', 'CL'],
    [0x0fac, 'shrd', 'Ib'],
    [0x0fad, 'shrd', 'CL'],
  ] as const) {
    forms.push({
      opcode,
      mnemonic,
      operands: ['Ev', 'Gv', count],
      handler: 'shxd',
      modrm: true,
      ...(count === 'Ib' ? { imm: ib } : {}),
      ...SHIFT_DOUBLE_UNDEF,
    });
  }
  return forms;
}

/** XADD, CMPXCHG, CMPXCHG8B and the hint-NOP space. */
function exchangeForms(): OpcodeForm[] {
  const forms: OpcodeForm[] = [
    {
      opcode: 0x0fc0,
      mnemonic: 'xadd',
      operands: ['Eb', 'Gb'],
      handler: 'xadd',
      modrm: true,
      byteOp: true,
      lockable: true,
    },
    {
      opcode: 0x0fc1,
      mnemonic: 'xadd',
      operands: ['Ev', 'Gv'],
      handler: 'xadd',
      modrm: true,
      lockable: true,
    },
    {
      opcode: 0x0fb0,
      mnemonic: 'cmpxchg',
      operands: ['Eb', 'Gb'],
      handler: 'cmpxchg',
      modrm: true,
      byteOp: true,
      lockable: true,
    },
    {
      opcode: 0x0fb1,
      mnemonic: 'cmpxchg',
      operands: ['Ev', 'Gv'],
      handler: 'cmpxchg',
      modrm: true,
      lockable: true,
    },
    {
      opcode: 0x0fc7,
      ext: 1,
      mnemonic: 'cmpxchg8b',
      operands: ['Mq'],
      handler: 'cmpxchg8b',
      modrm: true,
      lockable: true,
    },
  ];
  // 0F 18–1F: prefetch hints and reserved NOPs (SDM Vol. 2, Table A-3; NOPL is 0F 1F /0 and
  // ENDBR64 is F3 0F 1E FA). None of them accesses its memory operand.
  for (let op = 0x0f18; op <= 0x0f1f; op++) {
    const endbr: PrefixAlias = {
      prefix: 0xf3,
      mnemonic: 'endbr64',
      why: 'CET is not advertised: ENDBR64/ENDBR32 and RDSSP (F3 0F 1E) are NOPs',
    };
    forms.push({
      opcode: op,
      mnemonic: 'nop',
      operands: ['Ev'],
      handler: 'nop',
      modrm: true,
      ...(op === 0x0f1e ? { aliases: [endbr] } : {}),
    });
  }
  return forms;
}

/** Every instruction form the engine implements. */
export const OPCODE_TABLE: readonly OpcodeForm[] = [
  ...aluForms(),
  ...regForms(),
  ...branchForms(),
  ...shiftForms(),
  ...group3Forms(),
  ...stringForms(),
  ...portForms(),
  ...miscForms(),
  ...bitForms(),
  ...exchangeForms(),
  ...sseForms(),
  ...systemForms(),
];

/**
 * Executors the decoder selects itself, with no row of their own, only dispatch ids: `tooLong`
 * for an instruction over 15 bytes, and those it substitutes for the general executor of a
 * form when the operands fit (src/engine/soft/core/fast.ts).
 */
export const DECODER_EXECUTORS: readonly string[] = [
  'tooLong',
  'movRR64',
  'movRR32',
  'movLoad64',
  'movLoad32',
  'movStore64',
  'movStore32',
  'aluLoad64',
  'aluLoad32',
  'testRR64',
  'testRR32',
  'incDecR64',
  'incDecR32',
  'pushR64',
  'popR64',
  'callRel64',
  'ret64',
  'shiftR64',
  'shiftR32',
  'movzxbLoad',
  // One per ALU operation and shape (core/fast_alu.ts): eight consecutive ids per shape, in
  // the order of ALU_NAMES, which the decoder relies on.
  ...['RR64', 'RR32', 'RI64', 'RI32'].flatMap((shape) => ALU_NAMES.map((op) => op + shape)),
  'jz64',
  'jnz64',
];
