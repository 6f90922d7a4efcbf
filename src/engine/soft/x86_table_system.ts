/**
 * System instruction forms of the opcode table: interrupts and IRET, segment registers and far
 * transfers, control and debug registers, descriptor tables, MSRs, SYSCALL/SYSRET. Appended to
 * OPCODE_TABLE by x86_table.ts.
 */

import type { OpcodeForm } from './x86_table.js';

const IB = 1;
const IW = 2;

/** One form with a ModRM byte. */
const rm = (opcode: number, mnemonic: string, operands: string[], handler: string): OpcodeForm => ({
  opcode,
  mnemonic,
  operands,
  handler,
  modrm: true,
});

/** The group forms of `opcode`: one row per ModRM.reg digit. */
function group(
  opcode: number,
  handler: string,
  names: readonly (string | undefined)[],
): OpcodeForm[] {
  const out: OpcodeForm[] = [];
  names.forEach((mnemonic, ext) => {
    if (mnemonic !== undefined) out.push({ ...rm(opcode, mnemonic, ['Ew'], handler), ext });
  });
  return out;
}

/** Every system form the engine implements. */
export function systemForms(): OpcodeForm[] {
  return [
    { opcode: 0xcc, mnemonic: 'int3', operands: [], handler: 'intN' },
    { opcode: 0xcd, mnemonic: 'int', operands: ['Ib'], handler: 'intN', imm: IB },
    { opcode: 0xf1, mnemonic: 'int1', operands: [], handler: 'intN' },
    { opcode: 0xcf, mnemonic: 'iret', operands: [], handler: 'iret' },
    rm(0x8c, 'mov', ['Ev', 'Sw'], 'movFromSreg'),
    rm(0x8e, 'mov', ['Sw', 'Ew'], 'movToSreg'),
    { opcode: 0x06, mnemonic: 'push es', operands: [], handler: 'pushSreg', i64: true },
    { opcode: 0x07, mnemonic: 'pop es', operands: [], handler: 'popSreg', i64: true },
    { opcode: 0x0e, mnemonic: 'push cs', operands: [], handler: 'pushSreg', i64: true },
    { opcode: 0x16, mnemonic: 'push ss', operands: [], handler: 'pushSreg', i64: true },
    { opcode: 0x17, mnemonic: 'pop ss', operands: [], handler: 'popSreg', i64: true },
    { opcode: 0x1e, mnemonic: 'push ds', operands: [], handler: 'pushSreg', i64: true },
    { opcode: 0x1f, mnemonic: 'pop ds', operands: [], handler: 'popSreg', i64: true },
    { opcode: 0x0fa0, mnemonic: 'push fs', operands: [], handler: 'pushSreg', d64: true },
    { opcode: 0x0fa1, mnemonic: 'pop fs', operands: [], handler: 'popSreg', d64: true },
    { opcode: 0x0fa8, mnemonic: 'push gs', operands: [], handler: 'pushSreg', d64: true },
    { opcode: 0x0fa9, mnemonic: 'pop gs', operands: [], handler: 'popSreg', d64: true },
    rm(0x0fb2, 'lss', ['Gv', 'Mp'], 'loadFarPointer'),
    rm(0x0fb4, 'lfs', ['Gv', 'Mp'], 'loadFarPointer'),
    rm(0x0fb5, 'lgs', ['Gv', 'Mp'], 'loadFarPointer'),
    { ...rm(0xff, 'call far', ['Mp'], 'callFar'), ext: 3 },
    { ...rm(0xff, 'jmp far', ['Mp'], 'jmpFar'), ext: 5 },
    { opcode: 0xca, mnemonic: 'retf', operands: ['Iw'], handler: 'retFar', imm: IW },
    { opcode: 0xcb, mnemonic: 'retf', operands: [], handler: 'retFar' },
    { opcode: 0x0f05, mnemonic: 'syscall', operands: [], handler: 'syscall' },
    { opcode: 0x0f07, mnemonic: 'sysret', operands: [], handler: 'sysret' },
    { opcode: 0x0f06, mnemonic: 'clts', operands: [], handler: 'clts' },
    { opcode: 0x0f08, mnemonic: 'invd', operands: [], handler: 'wbinvd' },
    { opcode: 0x0f09, mnemonic: 'wbinvd', operands: [], handler: 'wbinvd' },
    // MOV to/from CRn and DRn ignore ModRM.mod: always a register (the decoder forces it).
    { ...rm(0x0f20, 'mov', ['Rd', 'Cd'], 'movFromCr'), mod: 'reg' },
    { ...rm(0x0f22, 'mov', ['Cd', 'Rd'], 'movToCr'), mod: 'reg' },
    { ...rm(0x0f21, 'mov', ['Rd', 'Dd'], 'movDr'), mod: 'reg' },
    { ...rm(0x0f23, 'mov', ['Dd', 'Rd'], 'movDr'), mod: 'reg' },
    // AMD's PREFETCH/PREFETCHW (0F 0D): hints, which Linux uses on every CPU with long mode.
    { ...rm(0x0f0d, 'prefetch', ['Mb'], 'nop'), mod: 'mem' },
    { opcode: 0x0f30, mnemonic: 'wrmsr', operands: [], handler: 'wrmsr' },
    { opcode: 0x0f31, mnemonic: 'rdtsc', operands: [], handler: 'rdtsc' },
    { opcode: 0x0f32, mnemonic: 'rdmsr', operands: [], handler: 'rdmsr' },
    ...group(0x0f00, 'group6', ['sldt', 'str', 'lldt', 'ltr', 'verr', 'verw']),
    ...group(0x0f01, 'group7', [
      'sgdt',
      'sidt',
      'lgdt',
      'lidt',
      'smsw',
      undefined,
      'lmsw',
      'invlpg/swapgs',
    ]),
  ];
}
