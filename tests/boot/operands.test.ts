/**
 * Memory operands in 64-bit mode on the machine (tests/guests/operands.asm): addressing forms,
 * address size, segment bases, page- and large-page-crossing accesses, RSP in PUSH and POP.
 * Expected values come from the Intel SDM (Vol. 1, 3.7.5 "Specifying an Offset"; Vol. 3A,
 * 3.4.4 "Segment Loading Instructions in IA-32e Mode": only FS and GS bases count in 64-bit
 * mode; Vol. 2, PUSH, POP, XLAT, MOVS, STOS, MOV), worked out by hand.
 */

import { test } from 'node:test';
import type { GuestRun } from '../helpers/run_guest.js';
import type { Machine } from '../../src/vm/machine.js';
import { expectBytes, expectExit, expectQwords, runCase } from './guest_case.js';
import type { Qword } from './guest_case.js';

const RESULTS = 0x2f_0000;
const DATA = 0x30_0000;
const FS_BASE = 0x31_0000;
const GS_BASE = 0x32_0000;
/** What DS, ES and SS hold as base: 64-bit mode must ignore it. */
const OTHER_BASE = 0x33_0000;

const M_WRAP = 0x0101_0202_0303_0404n;
const M_FS = 0xf5f5_0000_0000_0100n;
const M_GS = 0x6565_0000_0000_0108n;
const M_100 = 0x0100_0100_0100_0100n;
const M_108 = 0x0108_0108_0108_0108n;
const M_110 = 0x0110_0110_0110_0110n;

/** Byte `i` of DATA as prepared. */
const p = (i: number): number => (i * 5 + 0x21) & 0xff;
/** The little-endian quadword at DATA + `off` as prepared. */
function dataQ(off: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(p(off + i));
  return v;
}
const le64 = (v: bigint): number[] => {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(v);
  return Array.from(buf);
};

function prepare(machine: Machine): void {
  const mem = machine.vm.memory;
  mem.write(
    DATA,
    Uint8Array.from({ length: 0x3000 }, (_, i) => p(i)),
  );
  mem.write64(0x10, M_WRAP);
  mem.write64(0x100, M_100);
  mem.write64(0x108, M_108);
  mem.write64(0x110, M_110);
  mem.write64(FS_BASE + 0x100, M_FS);
  mem.write64(GS_BASE + 0x108, M_GS);
  mem.write(0x3f_fffc, Uint8Array.from([0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8]));
}

let operandsRun: Promise<GuestRun> | undefined;
async function operands(): Promise<GuestRun> {
  operandsRun ??= runCase('operands', {
    prepare,
    sregs: (s) => {
      s.fs.base = BigInt(FS_BASE);
      s.gs.base = BigInt(GS_BASE);
      s.ds.base = BigInt(OTHER_BASE);
      s.es.base = BigInt(OTHER_BASE);
      s.ss.base = BigInt(OTHER_BASE);
    },
  });
  const run = await operandsRun;
  expectExit(run, 0x55);
  return run;
}

const result = (k: number, what: string, value: bigint): Qword => ({
  what: `${k}: ${what}`,
  gpa: RESULTS + k * 8,
  value,
});

test('SIB, RIP-relative, negative displacement and 64-bit moffs operands address what they say', async () => {
  const run = await operands();
  expectQwords(run, [
    result(1, '[rbx + rsi*8 + 0x10], rsi = 3', dataQ(0x28)),
    result(2, '[rel constant]', 0x7e57_0000_c0de_0001n),
    result(19, 'mov rax, [moffs64 DATA + 0x600]', dataQ(0x600)),
    result(21, '[rbx + rcx*4 - 4], rcx = 3', dataQ(0x708)),
  ]);
  expectBytes(
    run,
    DATA + 0x608,
    Uint8Array.from([0x20, ...Array.from({ length: 7 }, (_, i) => p(0x609 + i))]),
    '20: mov [moffs64 DATA + 0x608], al',
  );
});

test('a 32-bit address size drops the upper half of the base and wraps at 4 GiB', async () => {
  expectQwords(await operands(), [
    result(3, '[ebx], rbx = 0xffffffff00300040', dataQ(0x40)),
    result(4, '[ebx + 0x20], ebx = 0xfffffff0 (wraps to 0x10)', M_WRAP),
    result(22, 'lea eax, [rbx + rcx] truncates to 32 bits, zero-extended', 0x10n),
  ]);
});

test('FS and GS bases are added; DS, ES and SS bases are treated as zero', async () => {
  expectQwords(await operands(), [
    result(5, '[fs:rbx], rbx = 0x100', M_FS),
    result(6, '[gs:rbx + 8]', M_GS),
    result(7, '[rbx] with a DS base set', M_100),
    result(8, '[es:rbx + 8] with an ES base set', M_108),
    result(9, '[ss:rbx + 16] with an SS base set', M_110),
  ]);
});

test('XLAT reads [RBX + AL] and replaces AL only', async () => {
  expectQwords(await operands(), [
    result(10, 'xlatb, al = 5', 0x1111_1111_1111_1100n | BigInt(p(0x505))),
  ]);
});

test('reads and writes that cross a 4 KiB or a 2 MiB boundary move all their bytes', async () => {
  const run = await operands();
  expectQwords(run, [
    result(11, 'read at DATA + 0xffc', dataQ(0xffc)),
    result(12, 'read at 0x3ffffc (two 2 MiB pages)', 0xc8c7_c6c5_c4c3_c2c1n),
  ]);
  expectBytes(
    run,
    DATA + 0x1ffc,
    Uint8Array.from(le64(0x8877_6655_4433_2211n)),
    '13: write at DATA + 0x1ffc',
  );
});

test('PUSH [RSP] reads before RSP moves; POP [RSP] addresses after; PUSH RSP and POP RSP', async () => {
  expectQwords(await operands(), [
    result(14, 'push qword [rsp] pushes the top of stack', 0x1414n),
    result(15, 'pop qword [rsp] stores over the next slot', 0x15bn),
    result(16, 'RSP after push, push, pop [rsp], pop', 0n),
    result(17, 'push rsp pushed RSP as it was before', 0n),
    result(18, 'pop rsp: RSP = the value popped (start - 0x100)', 0x100n),
  ]);
});

test('a segment override applies to the source of MOVS, never to the destination of STOS', async () => {
  const run = await operands();
  expectBytes(run, DATA + 0x800, Uint8Array.from(le64(M_FS)), '23: fs rep movsb from 0x100');
  expectBytes(
    run,
    DATA + 0x900,
    Uint8Array.from([0x77, 0x77, 0x77, 0x77, p(0x904)]),
    '24: fs rep stosb writes through ES',
  );
  expectBytes(run, FS_BASE + DATA + 0x900, new Uint8Array(4), '24: nothing at FS base + RDI');
});
