/**
 * String instructions on the machine (tests/guests/strings.asm), checked against the Intel SDM
 * Vol. 2 (MOVS, STOS, LODS, SCAS, CMPS; REP/REPE/REPNE): the test writes the inputs into guest
 * memory, the guest runs 28 subtests and records RAX, RCX, RSI, RDI and RFLAGS after each, and
 * every expected value below is worked out by hand from the instruction definitions.
 */

import { test } from 'node:test';
import type { GuestRun } from '../helpers/run_guest.js';
import type { Machine } from '../../src/vm/machine.js';
import { context, expectBytes, expectExit, hex, runCase } from './guest_case.js';

// The guest's memory map (tests/guests/strings.asm).
const RECORDS = 0x2f_0000;
const A = 0x30_0000;
const B = 0x34_0000;
const BIG_A = 0x40_0000;
const BIG_B = 0x41_0000;
const BIG_C = 0x42_0000;
const BIG_D = 0x44_0000;
const BIG_E = 0x45_0000;
const BIG_F = 0x46_0000;
const a = (k: number): number => A + k * 0x1000;
const b = (k: number): number => B + k * 0x1000;
const LONG = 10_000;

// RFLAGS bits (SDM Vol. 1, 3.4.3) and the values the guest loads before a subtest.
const CF = 0x1;
const PF = 0x4;
const AF = 0x10;
const ZF = 0x40;
const SF = 0x80;
const DF = 0x400;
const OF = 0x800;
/** The flags a record is compared on: the status flags and DF. */
const FLAG_MASK = CF | PF | AF | ZF | SF | DF | OF;
/** OF SF ZF AF PF CF: a combination no compare produces (SF and ZF both set). */
const ALL = OF | SF | ZF | AF | PF | CF;
const ALL_DF = ALL | DF;
/** CMP of two equal values: result 0, even parity. */
const EQUAL = ZF | PF;

const SENTINEL = 0xee;
const LETTERS = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'latin1');
/** The bytes of the A areas: offset `i` from A holds patternA(i). */
const patternA = (i: number): number => (i * 37 + 11) & 0xff;
/** The bytes of BIG_A. */
const patternBig = (i: number): number => (i * 13 + (i >> 7)) & 0xff;

/** `count` copies of `byte`. */
const fill = (count: number, byte = SENTINEL): number[] => new Array<number>(count).fill(byte);
/** Bytes `[from, to)` of area A_k as prepared. */
function aBytes(k: number, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(patternA(a(k) - A + i));
  return out;
}
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const le64 = (v: bigint): number[] => {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(v);
  return Array.from(buf);
};

/** The inputs: patterned A areas, sentinel-filled B areas, and the special buffers. */
function prepare(machine: Machine): void {
  const mem = machine.vm.memory;
  const areas = 29 * 0x1000;
  mem.write(
    A,
    Uint8Array.from({ length: areas }, (_, i) => patternA(i)),
  );
  mem.fill(B, areas, SENTINEL);
  mem.write(a(9), Buffer.from('hello, world\0', 'latin1'));
  mem.write(a(10), Buffer.from('AAAAAAB', 'latin1'));
  // 11: equal but at index 7; 12: equal; 13: different but at index 5.
  mem.write(b(11), mem.view(a(11), 16).slice());
  mem.write8(a(11) + 7, 0x35);
  mem.write8(b(11) + 7, 0x29);
  mem.write(b(12), mem.view(a(12), 16).slice());
  mem.write(
    b(13),
    Uint8Array.from(aBytes(13, 0, 10), (v, i) => (i === 5 ? v : v ^ 0x5a)),
  );
  mem.write(a(18), LETTERS);
  mem.write(a(19), LETTERS);
  mem.fill(BIG_A, 0x7_0000, SENTINEL);
  const big = Uint8Array.from({ length: LONG }, (_, i) => patternBig(i));
  big[9000] = 0x7f;
  mem.write(BIG_A, big);
  big[9000] = 0x80;
  mem.write(BIG_D, big);
  mem.fill(BIG_E, LONG, 0);
  mem.write8(BIG_E + 8192, 0x5a);
}

let stringsRun: Promise<GuestRun> | undefined;
/** The one run all tests read. */
async function strings(): Promise<GuestRun> {
  stringsRun ??= runCase('strings', { prepare });
  const run = await stringsRun;
  expectExit(run, 0x55);
  return run;
}

interface Saved {
  rax: bigint;
  rcx: bigint;
  rsi: bigint;
  rdi: bigint;
  /** RFLAGS & FLAG_MASK. */
  flags: number;
}

/** Asserts the registers the guest recorded after subtest `k`. */
function expectRecord(run: GuestRun, k: number, what: string, expected: Saved): void {
  const mem = run.machine.vm.memory;
  const at = RECORDS + k * 64;
  const got: Saved = {
    rax: mem.read64(at),
    rcx: mem.read64(at + 8),
    rsi: mem.read64(at + 16),
    rdi: mem.read64(at + 24),
    flags: Number(mem.read64(at + 32)) & FLAG_MASK,
  };
  const wrong = (Object.keys(expected) as (keyof Saved)[])
    .filter((r) => got[r] !== expected[r])
    .map((r) => `  ${r}: expected ${hex(expected[r])}, got ${hex(got[r])}`);
  if (wrong.length > 0) {
    throw new Error(
      `subtest ${k} (${what}): registers after it differ\n${wrong.join('\n')}\n${context(run)}`,
    );
  }
}

const N = BigInt;
const RAX0 = 0x1111_1111_1111_1111n;

test('rep movsb forward copies RCX bytes, advances RSI and RDI, leaves flags alone', async () => {
  const run = await strings();
  expectRecord(run, 1, 'rep movsb', {
    rax: RAX0,
    rcx: 0n,
    rsi: N(a(1) + 40),
    rdi: N(b(1) + 42),
    flags: ALL,
  });
  expectBytes(run, b(1), bytes(fill(5), aBytes(1, 3, 40), fill(22)), 'rep movsb destination');
});

test('rep movsq forward moves quadwords', async () => {
  const run = await strings();
  expectRecord(run, 2, 'rep movsq', {
    rax: RAX0,
    rcx: 0n,
    rsi: N(a(2) + 80),
    rdi: N(b(2) + 88),
    flags: ALL,
  });
  expectBytes(run, b(2), bytes(fill(16), aBytes(2, 8, 80), fill(16)), 'rep movsq destination');
});

test('rep movsb with DF = 1 copies downwards and leaves RSI and RDI below the block', async () => {
  const run = await strings();
  expectRecord(run, 3, 'std; rep movsb', {
    rax: RAX0,
    rcx: 0n,
    rsi: N(a(3) + 20),
    rdi: N(b(3) + 40),
    flags: ALL_DF,
  });
  expectBytes(run, b(3), bytes(fill(41), aBytes(3, 21, 41), fill(11)), 'backward movsb');
});

test('rep movsq with DF = 1 steps by 8 downwards', async () => {
  const run = await strings();
  expectRecord(run, 4, 'std; rep movsq', {
    rax: RAX0,
    rcx: 0n,
    rsi: N(a(4) + 40),
    rdi: N(b(4) + 56),
    flags: ALL_DF,
  });
  expectBytes(run, b(4), bytes(fill(64), aBytes(4, 48, 88), fill(8)), 'backward movsq');
});

test('rep stosb stores AL forward; rep stosq with DF = 1 stores RAX downwards', async () => {
  const run = await strings();
  expectRecord(run, 5, 'rep stosb', {
    rax: 0xffee_ddcc_bbaa_99abn,
    rcx: 0n,
    rsi: N(a(4) + 40),
    rdi: N(b(5) + 20),
    flags: ALL,
  });
  expectBytes(run, b(5), bytes(fill(7), fill(13, 0xab), fill(12)), 'rep stosb destination');
  expectRecord(run, 6, 'std; rep stosq', {
    rax: 0x1122_3344_5566_7788n,
    rcx: 0n,
    rsi: N(a(4) + 40),
    rdi: N(b(6) + 0x20),
    flags: ALL_DF,
  });
  const q = le64(0x1122_3344_5566_7788n);
  expectBytes(run, b(6), bytes(fill(0x28), q, q, q, q, fill(8)), 'backward stosq');
});

test('rep lodsb leaves the last byte in AL and the rest of RAX; lodsq alone keeps RCX', async () => {
  const run = await strings();
  expectRecord(run, 7, 'rep lodsb', {
    rax: 0x1122_3344_5566_7700n | N(patternA(a(7) - A + 14)),
    rcx: 0n,
    rsi: N(a(7) + 15),
    rdi: N(b(6) + 0x20),
    flags: ALL,
  });
  expectRecord(run, 8, 'std; lodsq', {
    rax: Buffer.from(aBytes(8, 0x20, 0x28)).readBigUInt64LE(),
    rcx: 0x1234n,
    rsi: N(a(8) + 0x18),
    rdi: N(b(6) + 0x20),
    flags: ALL_DF,
  });
});

test('repne scasb finds the NUL: RCX = -1 - 13, RDI past it, ZF = 1', async () => {
  expectRecord(await strings(), 9, 'repne scasb over "hello, world\\0"', {
    rax: 0n,
    rcx: 0xffff_ffff_ffff_fff2n,
    rsi: N(a(8) + 0x18),
    rdi: N(a(9) + 13),
    flags: EQUAL,
  });
});

test('repe scasb stops after the first mismatch with the flags of that comparison', async () => {
  // 7 iterations; the last compares AL 0x41 with 0x42: 0x41 - 0x42 = 0xff, a borrow out of
  // bit 7 (CF) and bit 3 (AF), negative (SF), eight ones (PF), no signed overflow.
  expectRecord(await strings(), 10, 'repe scasb over "AAAAAAB"', {
    rax: 0x41n,
    rcx: 13n,
    rsi: N(a(8) + 0x18),
    rdi: N(a(10) + 7),
    flags: CF | PF | AF | SF,
  });
});

test('repe cmpsb stops at the first difference: RCX, RSI and RDI count 8 comparisons', async () => {
  // [RSI] - [RDI] = 0x35 - 0x29 = 0x0c: a borrow out of bit 3 (AF), two ones (PF).
  expectRecord(await strings(), 11, 'repe cmpsb, difference at index 7', {
    rax: 0x41n,
    rcx: 8n,
    rsi: N(a(11) + 8),
    rdi: N(b(11) + 8),
    flags: AF | PF,
  });
});

test('repe cmpsb over equal bytes runs out of count with ZF = 1', async () => {
  expectRecord(await strings(), 12, 'repe cmpsb, equal', {
    rax: 0x41n,
    rcx: 0n,
    rsi: N(a(12) + 16),
    rdi: N(b(12) + 16),
    flags: EQUAL,
  });
});

test('repne cmpsb stops at the first equal pair', async () => {
  expectRecord(await strings(), 13, 'repne cmpsb, equal at index 5', {
    rax: 0x41n,
    rcx: 4n,
    rsi: N(a(13) + 6),
    rdi: N(b(13) + 6),
    flags: EQUAL,
  });
});

test('with RCX = 0 a repeated string instruction does nothing, not even to the flags', async () => {
  const run = await strings();
  expectRecord(run, 14, 'rep movsb, RCX = 0', {
    rax: 0x41n,
    rcx: 0n,
    rsi: N(a(14)),
    rdi: N(b(14)),
    flags: ALL,
  });
  expectBytes(run, b(14), bytes(fill(16)), 'rep movsb with RCX = 0 destination');
  expectRecord(run, 15, 'repe cmpsb, RCX = 0', {
    rax: 0x41n,
    rcx: 0n,
    rsi: N(a(15)),
    rdi: N(b(15)),
    flags: ALL,
  });
  expectRecord(run, 16, 'repne scasb, RCX = 0', {
    rax: 0xeen,
    rcx: 0n,
    rsi: N(a(15)),
    rdi: N(b(16)),
    flags: ALL,
  });
  expectRecord(run, 17, 'rep stosq, RCX = 0', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(a(15)),
    rdi: N(b(17)),
    flags: ALL,
  });
  expectBytes(run, b(17), bytes(fill(16)), 'rep stosq with RCX = 0 destination');
});

test('overlapping rep movsb forward, destination one above: each byte copies the one just written', async () => {
  const run = await strings();
  expectRecord(run, 18, 'rep movsb, RDI = RSI + 1', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(a(18) + 16),
    rdi: N(a(18) + 17),
    flags: ALL,
  });
  expectBytes(run, a(18), Buffer.from('AAAAAAAAAAAAAAAAARST', 'latin1'), 'forward overlap');
});

test('overlapping rep movsb backward, destination one above: a move up by one byte', async () => {
  const run = await strings();
  expectRecord(run, 19, 'std; rep movsb, RDI = RSI + 1', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(a(19) - 1),
    rdi: N(a(19)),
    flags: ALL_DF,
  });
  expectBytes(run, a(19), Buffer.from('AABCDEFGHIJKLMNOPRST', 'latin1'), 'backward overlap');
});

test('overlapping rep movsq reads each quadword after the previous one was written', async () => {
  const run = await strings();
  expectRecord(run, 20, 'rep movsq, RDI = RSI + 3', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(a(20) + 24),
    rdi: N(a(20) + 27),
    flags: ALL,
  });
  // s = the bytes before. Iteration 1 writes s[0..8) at 3; iteration 2 reads 8..16, which
  // now holds s[5], s[6], s[7], s[11..16), and writes it at 11; iteration 3 reads 16..24,
  // now s[13], s[14], s[15], s[19..24), and writes it at 19.
  const s = (i: number): number => patternA(a(20) - A + i);
  const at = (...idx: number[]): number[] => idx.map(s);
  const expected = bytes(
    at(0, 1, 2),
    at(0, 1, 2, 3, 4, 5, 6, 7),
    at(5, 6, 7, 11, 12, 13, 14, 15),
    at(13, 14, 15, 19, 20, 21, 22, 23),
    at(27, 28, 29, 30),
  );
  expectBytes(run, a(20), expected, 'overlapping movsq');
});

test('overlapping rep movsb forward, destination below the source, copies like memmove', async () => {
  const run = await strings();
  expectRecord(run, 21, 'rep movsb, RDI = RSI - 2', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(a(21) + 12),
    rdi: N(a(21) + 10),
    flags: ALL,
  });
  expectBytes(run, a(21), bytes(aBytes(21, 2, 12), aBytes(21, 10, 14)), 'downward overlap');
});

/** BIG_A as the guest sees it (prepare() puts 0x7f at 9000). */
function bigA(): number[] {
  return Array.from({ length: LONG }, (_, i) => (i === 9000 ? 0x7f : patternBig(i)));
}

test('rep movsb of 10000 bytes (more than one internal chunk) completes', async () => {
  const run = await strings();
  expectRecord(run, 22, 'rep movsb, RCX = 10000', {
    rax: 0x2222_2222_2222_2222n,
    rcx: 0n,
    rsi: N(BIG_A + LONG),
    rdi: N(BIG_B + LONG),
    flags: ALL,
  });
  expectBytes(run, BIG_B, bytes(bigA(), fill(8)), '10000-byte copy');
});

test('rep stosq of 10000 quadwords completes', async () => {
  const run = await strings();
  expectRecord(run, 23, 'rep stosq, RCX = 10000', {
    rax: 0x0123_4567_89ab_cdefn,
    rcx: 0n,
    rsi: N(BIG_A + LONG),
    rdi: N(BIG_C + 8 * LONG),
    flags: ALL,
  });
  const q = le64(0x0123_4567_89ab_cdefn);
  expectBytes(
    run,
    BIG_C,
    bytes(...new Array<number[]>(LONG).fill(q), fill(8)),
    '10000-quadword store',
  );
});

test('repe cmpsb over 10000 bytes stops at the difference at index 9000', async () => {
  // 9001 comparisons; the last is 0x7f - 0x80 = 0xff: CF, SF, PF, and OF (127 - (-128)).
  expectRecord(await strings(), 24, 'repe cmpsb, RCX = 10000', {
    rax: 0x0123_4567_89ab_cdefn,
    rcx: N(LONG - 9001),
    rsi: N(BIG_A + 9001),
    rdi: N(BIG_D + 9001),
    flags: CF | PF | SF | OF,
  });
});

test('repne scasb over 10000 bytes finds the byte at index 8192', async () => {
  expectRecord(await strings(), 25, 'repne scasb, RCX = 10000', {
    rax: 0x5an,
    rcx: N(LONG - 8193),
    rsi: N(BIG_A + 9001),
    rdi: N(BIG_E + 8193),
    flags: EQUAL,
  });
});

test('rep movsb backward of 10000 bytes completes', async () => {
  const run = await strings();
  expectRecord(run, 26, 'std; rep movsb, RCX = 10000', {
    rax: 0x5an,
    rcx: 0n,
    rsi: N(BIG_A - 1),
    rdi: N(BIG_F - 1),
    flags: ALL_DF,
  });
  expectBytes(run, BIG_F - 1, bytes(fill(1), bigA(), fill(8)), '10000-byte backward copy');
});

test('rep movsd moves doublewords; rep stosw with DF = 1 stores words downwards', async () => {
  const run = await strings();
  expectRecord(run, 27, 'rep movsd', {
    rax: 0x5an,
    rcx: 0n,
    rsi: N(a(27) + 24),
    rdi: N(b(27) + 28),
    flags: ALL,
  });
  expectBytes(run, b(27), bytes(fill(8), aBytes(27, 4, 24), fill(12)), 'rep movsd destination');
  expectRecord(run, 28, 'std; rep stosw', {
    rax: 0x3333_3333_3333_beefn,
    rcx: 0n,
    rsi: N(a(27) + 24),
    rdi: N(b(28) + 0x1a),
    flags: ALL_DF,
  });
  const w = [0xef, 0xbe];
  expectBytes(run, b(28), bytes(fill(0x1c), w, w, w, fill(2)), 'backward stosw');
});
