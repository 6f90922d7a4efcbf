/**
 * Repeated string instructions that fault part-way (tests/guests/string_faults.asm): at a #PF
 * the instruction must be restartable, so RCX, RSI and RDI reflect exactly the iterations
 * done, the bytes of those iterations are in memory, and RIP is the string instruction
 * (Intel SDM Vol. 2, REP). Expected values are worked out by hand.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestRun } from '../helpers/run_guest.js';
import type { Machine } from '../../src/vm/machine.js';
import { Paging, context, expectBytes, expectFault, expectRegs, runCase } from './guest_case.js';

const { FRAMES, WINDOW } = Paging;
const SRC = 0x30_0000;
const DST = 0x31_0000;
const SENTINEL = 0xee;
const DF = 0x400n;

// #PF error-code bits (SDM Vol. 3A, 4.7).
const PF_W = 1 << 1;

/** Byte `i` of SRC as prepared. */
const src = (i: number): number => (i * 29 + 7) & 0xff;
/** Byte at offset `i` of the frame of PT[0] as prepared. */
const frame0 = (i: number): number => (i * 11 + 3) & 0xff;

const fill = (count: number, byte = SENTINEL): number[] => new Array<number>(count).fill(byte);
const range = (from: number, to: number, f: (i: number) => number): number[] =>
  Array.from({ length: to - from }, (_, i) => f(from + i));
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());

/** SRC patterned, the frames and DST filled with the sentinel, PT[0]'s frame patterned. */
function prepare(machine: Machine): void {
  const mem = machine.vm.memory;
  mem.write(SRC, Uint8Array.from(range(0, 0x1000, src)));
  mem.fill(FRAMES, 0x2_0000, SENTINEL);
  mem.write(FRAMES, Uint8Array.from(range(0, 0x1000, frame0)));
  mem.fill(DST, 0x1000, SENTINEL);
}

async function runFaultCase(name: string, extra?: (machine: Machine) => void): Promise<GuestRun> {
  return runCase('string_faults', {
    defines: { CASE: name },
    prepare: (machine) => {
      prepare(machine);
      extra?.(machine);
    },
  });
}

const rbx = (run: GuestRun): bigint => run.machine.vcpu.getRegs().rbx;
const N = BigInt;

test('rep movsb writing into a not-present page stops after the bytes that fit', async () => {
  const run = await runFaultCase('MOVSB_DST');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: PF_W, cr2: WINDOW + 0x1000n });
  expectRegs(
    run,
    { rip: at, rcx: 7n, rsi: N(SRC + 5), rdi: WINDOW + 0x1000n },
    '5 of 12 iterations done',
  );
  expectBytes(
    run,
    FRAMES + 0xff0,
    bytes(range(0xff0, 0xffb, frame0), range(0, 5, src)),
    'the 5 bytes copied before the fault',
  );
});

test('rep movsq writing into a not-present page stops after the quadwords that fit', async () => {
  const run = await runFaultCase('MOVSQ_DST');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: PF_W, cr2: WINDOW + 0x1000n });
  expectRegs(
    run,
    { rip: at, rcx: 7n, rsi: N(SRC + 24), rdi: WINDOW + 0x1000n },
    '3 of 10 iterations done',
  );
  expectBytes(
    run,
    FRAMES + 0xfe0,
    bytes(range(0xfe0, 0xfe8, frame0), range(0, 24, src)),
    'the 3 quadwords copied before the fault',
  );
});

test('rep movsq whose first quadword straddles into a not-present page does no iteration', async () => {
  const run = await runFaultCase('MOVSQ_SPLIT');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: PF_W, cr2: WINDOW + 0x1000n });
  expectRegs(run, { rip: at, rcx: 3n, rsi: N(SRC), rdi: WINDOW + 0xffcn }, 'no iteration done');
  expectBytes(
    run,
    FRAMES + 0xff8,
    bytes(range(0xff8, 0x1000, frame0)),
    'the 4 bytes of the straddling quadword on the present page, unwritten',
  );
});

test('rep movsb reading from a not-present page is a read fault after the bytes it could read', async () => {
  const run = await runFaultCase('MOVSB_SRC');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: 0, cr2: WINDOW + 0x1000n });
  expectRegs(
    run,
    { rip: at, rcx: 5n, rsi: WINDOW + 0x1000n, rdi: N(DST + 3) },
    '3 of 8 iterations done',
  );
  expectBytes(
    run,
    DST,
    bytes(range(0xffd, 0x1000, frame0), fill(5)),
    'the 3 bytes copied before the fault',
  );
});

test('rep movsb with DF = 1 faults at the last byte of the page below', async () => {
  const run = await runFaultCase('MOVSB_BACK');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: PF_W, cr2: WINDOW + 0x1fffn });
  expectRegs(
    run,
    { rip: at, rcx: 6n, rsi: N(SRC - 1), rdi: WINDOW + 0x1fffn },
    '4 of 10 iterations done, downwards',
  );
  const rflags = run.machine.vcpu.getRegs().rflags;
  assert.equal(rflags & DF, DF, `DF is still set at the fault\n${context(run)}`);
  expectBytes(
    run,
    FRAMES + 0x2000,
    bytes(range(0, 4, src), fill(4)),
    'the 4 bytes copied before the fault',
  );
});

test('rep stosq of 10000 quadwords faults after 8092 with the count of the rest in RCX', async () => {
  // 64 KiB are mapped from WINDOW + 0x10000; the store starts 0x320 bytes in, so
  // (0x10000 - 0x320) / 8 = 8092 iterations fit: more than one of the engine's chunks.
  const run = await runFaultCase('STOSQ_LONG');
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: PF_W, cr2: WINDOW + 0x2_0000n });
  expectRegs(
    run,
    {
      rip: at,
      rax: 0x5a5a_5a5a_1234_5678n,
      rcx: 10_000n - 8092n,
      rsi: 0x1111n,
      rdi: WINDOW + 0x2_0000n,
    },
    '8092 of 10000 iterations done',
  );
  const q = [0x78, 0x56, 0x34, 0x12, 0x5a, 0x5a, 0x5a, 0x5a];
  expectBytes(
    run,
    FRAMES + 0x1_0000,
    bytes(fill(0x320), ...new Array<number[]>(8092).fill(q)),
    'the 8092 quadwords stored before the fault',
  );
});

test('repe cmpsb reading into a not-present page faults after the equal bytes', async () => {
  const run = await runFaultCase('CMPSB_SRC', (machine) => {
    // The 2 bytes before the not-present page, so the first 2 comparisons are equal.
    machine.vm.memory.write(DST, Uint8Array.from(range(0xffe, 0x1000, frame0)));
  });
  const at = rbx(run);
  expectFault(run, { vector: '#PF', rip: at, errorCode: 0, cr2: WINDOW + 0x1000n });
  expectRegs(
    run,
    { rip: at, rcx: 4n, rsi: WINDOW + 0x1000n, rdi: N(DST + 2) },
    '2 of 6 iterations done',
  );
});
