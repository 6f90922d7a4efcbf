/**
 * Self-modifying and cross-modified code on the machine (tests/guests/smc.asm), checked against
 * the Intel SDM Vol. 3A, 8.1.3 and 11.6: once a write to code has retired, the instructions
 * fetched after a jump to it, or after a serialising instruction, are the new ones; and a write
 * to an instruction already prefetched through the same linear address is seen too. The
 * software engine keeps decoded blocks of up to 16 instructions by guest-physical address;
 * these cases write into such blocks while they are cached or running — from the guest through
 * the same and a second mapping, by REP string instructions, across a page boundary, and from
 * the VMM through GuestMemory — and check that no stale byte runs. Cases the SDM alone does not
 * promise (no serialisation across mappings, a device write during an OUT) test the engine's
 * own promise: the first instruction fetched after a write retires sees it.
 *
 * Every expected value is worked out by hand from the guest's code, not taken from the engine.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PioSize } from '../../src/engine/types.js';
import type { GuestMemory } from '../../src/engine/memory.js';
import type { DeviceState, PioDevice } from '../../src/devices/types.js';
import type { Machine } from '../../src/vm/machine.js';
import { describeException } from '../../src/vm/diagnostics.js';
import type { GuestRun } from '../helpers/run_guest.js';
import {
  Paging,
  context,
  createCase,
  expectExit,
  expectQwords,
  hex,
  runCase,
} from './guest_case.js';
import type { CaseMachine, Qword } from './guest_case.js';

const { RESULTS } = Paging;
/** The guest's "all done" debug-exit value. */
const OK = 0x55;
/** The port whose device rewrites code during an OUT (SMC_PORT in tests/guests/smc.asm). */
const SMC_PORT = 0x5c0;
const PAGE = 0x1000;

/** The expectation for result slot `k` (RESULTS + 8 * k). */
const slot = (k: number, what: string, value: bigint | number): Qword => ({
  what,
  gpa: RESULTS + 8 * k,
  value: BigInt(value),
});

/** Runs case `name` to its debug exit with OK and checks its result slots. */
async function expectCase(name: string, expected: readonly Qword[]): Promise<GuestRun> {
  const run = await runCase('smc', { defines: { CASE: name } });
  expectExit(run, OK);
  expectQwords(run, expected);
  return run;
}

test('a store to an instruction ahead in the running decoded block changes what runs', async () => {
  // SDM Vol. 3A, 11.6: a write to a prefetched instruction, through the linear address it is
  // fetched from, invalidates it. Each writer and its target share one decoded block.
  await expectCase('AHEAD', [
    slot(0, 'MOV EAX, imm32 whose immediate the instruction before it wrote', 0x1111_1111),
    slot(1, 'MOV EDI, imm32 patched by a register store four instructions before', 0x2222_2222),
    slot(2, 'AL after two 5-byte MOVs were rewritten as five shorter instructions', 0x5a),
    slot(3, 'BL after the same rewrite', 0x5b),
    slot(4, 'CL after the same rewrite', 0x5c),
    slot(5, 'RAX after a PUSH wrote MOV EAX, 0x11223344 over the next instruction', 0x1122_3344),
  ]);
});

test('a loop sees its MOV immediate patched between runs and by its own iterations', async () => {
  // 8.1.3 option 1: store, then jump to the new code (the loop's branch, CALL).
  await expectCase('LOOP', [
    slot(0, 'RBX after 1000 iterations of MOV EAX, 0x100', 1000 * 0x100),
    slot(1, 'RBX after a second run, from cached code', 1000 * 0x100),
    slot(2, 'RBX after the immediate was patched to 0x7000', 1000 * 0x7000),
    slot(3, 'RBX of the self-patching loop, first run', 100 + 5 + 4 + 3 + 2),
    slot(4, 'RBX of the self-patching loop, second run', 1 + 5 + 4 + 3 + 2),
  ]);
});

test('a write through a second mapping of a code page is seen at the first', async () => {
  // 8.1.3 option 2 and 11.6: across linear addresses, a serialising instruction (CPUID)
  // between the write and the new code. Slots 4 and 6 go without one: the engine's promise.
  await expectCase('ALIAS', [
    slot(0, 'the stub written through WINDOW, called at the identity address', 0x1111_1111),
    slot(1, 'written through WINDOW, CPUID, called at the identity address', 0x2222_2222),
    slot(2, 'the same bytes called through WINDOW', 0x2222_2222),
    slot(3, 'written through the identity map, CPUID, called through WINDOW', 0x3333_3333),
    slot(4, 'engine: written through WINDOW, called at once at the identity address', 0x4444_4444),
    slot(5, 'the copied block run as built', 0xdead_0006),
    slot(6, 'engine: the block wrote through WINDOW to an instruction ahead of it', 0x5555_5555),
  ]);
});

test('REP MOVSB and REP STOSB over code that ran before change what it does', async () => {
  const CF = 1;
  await expectCase('STRING', [
    slot(0, 'string_fn as built', 0xaaaa_0001),
    slot(1, 'string_fn after REP MOVSB of a new body', 0x1234_5678),
    slot(2, 'EAX after REP STOSB of 63 x CDQ: unchanged', 0x8000_0000),
    slot(3, 'EDX after the 63 CDQs of EAX = 0x80000000', 0xffff_ffff),
    slot(4, 'the instruction REP MOVSB wrote right after itself', 0x5555_aaaa),
    slot(5, 'big_fn (two pages) as built', 0xaaaa_0003),
    slot(6, 'EAX after REP STOSB of 8191 x CMC over both pages: unchanged', 7),
    slot(7, 'CF after 8191 CMCs from CF = 0', CF),
  ]);
});

test('an instruction across a page boundary sees writes to its bytes on either page', async () => {
  const run = await expectCase('STRADDLE', [
    slot(1, 'MOV EAX, 0x11223344 across the boundary, as built', 0x1122_3344),
    slot(2, 'after its two immediate bytes on the second page were rewritten', 0x6655_3344),
    slot(3, 'after its two immediate bytes on the first page were rewritten', 0x6655_8877),
    slot(
      4,
      'the sum of 4 runs, each after the top byte (second page) was set to the loop count',
      0x6655_8877 + 0x0455_8877 + 0x0355_8877 + 0x0255_8877,
    ),
  ]);
  // The MOV's opcode and first two immediate bytes end one page, the last two start the next.
  const at = run.machine.vm.memory.read64(RESULTS);
  assert.equal(
    (at + 3n) % BigInt(PAGE),
    0n,
    `the MOV at ${hex(at)} is not 3 bytes before a page boundary\n${context(run)}`,
  );
});

test('a store across a page boundary onto code on both pages changes what runs', async () => {
  const run = await expectCase('SPLIT', [
    slot(1, 'after the store of nop x 4 | b8 11 11 11: mov eax, 0xde111111', 0xde11_1111),
    slot(
      2,
      'after the store of xor eax, eax; nop x 2 | 05 22 22 22: add eax, 0xde222222',
      0xde22_2222,
    ),
  ]);
  const at = run.machine.vm.memory.read64(RESULTS);
  assert.equal(
    at % BigInt(PAGE),
    0n,
    `the instruction at ${hex(at)} does not start a page\n${context(run)}`,
  );
});

/** Runs the vCPU to its next HLT; any other stop fails with the vCPU state. */
function runToHalt(c: CaseMachine, what: string): void {
  const { machine } = c;
  const fail = (got: string): never => {
    throw new Error(
      `${what}: expected the guest to halt\n     got ${got}\n--- vCPU state ---\n` +
        `${machine.describeVcpu()}\n--- console ---\n${c.console()}`,
    );
  };
  const SLICES = 10;
  const SLICE = 100_000;
  for (let i = 0; i < SLICES; i++) {
    const exit = machine.vcpu.run(SLICE);
    switch (exit.kind) {
      case 'hlt':
        return;
      case 'interrupted':
        continue;
      case 'exception':
        return fail(`guest exception ${describeException(exit)}`);
      case 'shutdown':
        return fail(`shutdown: ${exit.reason}`);
      case 'irq-window':
        return fail('an interrupt window');
    }
  }
  fail(`no halt within ${SLICES * SLICE} instructions`);
}

/** The port device of case VMM: a write of a guest-physical address rewrites the code there. */
function codeWriter(machine: Machine, bytes: Uint8Array): PioDevice {
  const state: DeviceState = { device: 'smc-code-writer', version: 1 };
  return {
    name: 'smc-code-writer',
    pioRead: (_port: number, size: PioSize): number =>
      size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff,
    pioWrite: (_port: number, _size: PioSize, value: number): void => {
      machine.vm.memory.write(value, bytes);
    },
    saveState: () => state,
    loadState: () => undefined,
  };
}

test('code rewritten by the VMM through GuestMemory runs the new bytes', async () => {
  // The guest halts after running vmm_fn; the test rewrites vmm_fn with each of GuestMemory's
  // write paths and resumes it. Last, a device rewrites the instruction after an OUT while the
  // OUT runs (the engine's promise: GuestMemory's writes reach the decoded-block cache).
  const c = await createCase('smc', {
    defines: { CASE: 'VMM' },
    prepare: (machine) => {
      machine.bus.addPio(
        SMC_PORT,
        1,
        codeWriter(machine, Uint8Array.of(0xb8, 0x44, 0x44, 0x44, 0x64)), // mov eax, 0x64444444
      );
    },
  });
  const patches: [string, (mem: GuestMemory, fn: number) => void][] = [
    [
      'write() of the immediate',
      (mem, fn) => {
        mem.write(fn + 1, Uint8Array.of(0x11, 0x11, 0x11, 0x61));
      },
    ],
    [
      'write32() of the immediate',
      (mem, fn) => {
        mem.write32(fn + 1, 0x6222_2222);
      },
    ],
    [
      'write8() of the top byte of the immediate',
      (mem, fn) => {
        mem.write8(fn + 4, 0x63);
      },
    ],
    [
      'fill() of the function with RET',
      (mem, fn) => {
        mem.fill(fn, 6, 0xc3);
      },
    ],
    [
      'write64() of mov eax, 0x0badbeef; ret; nop; nop',
      (mem, fn) => {
        mem.write64(fn, 0x9090_c30b_adbe_efb8n);
      },
    ],
  ];
  for (const [what, patch] of patches) {
    runToHalt(c, `before the VMM's ${what}`);
    patch(c.machine.vm.memory, Number(c.machine.vcpu.getRegs().rbx));
  }
  const run: GuestRun = { machine: c.machine, stop: c.machine.run(), console: c.console() };
  expectExit(run, OK);
  expectQwords(run, [
    slot(0, 'vmm_fn as built', 0x6000_0001),
    slot(1, "after the VMM's write()", 0x6111_1111),
    slot(2, "after the VMM's write32()", 0x6222_2222),
    slot(3, "after the VMM's write8()", 0x6322_2222),
    slot(4, "after the VMM's fill() with RET: EAX as the caller set it", 0x0e0e_0e0e),
    slot(5, "after the VMM's write64()", 0x0bad_beef),
    slot(6, 'engine: the instruction a device rewrote during the OUT before it', 0x6444_4444),
  ]);
});

test('data written in the page of the running code is read back right', async () => {
  await expectCase('DATA', [
    slot(0, 'the counter in the code page after 10000 INCs', 10_000),
    slot(1, 'the sum ADDed in the code page', (10_000 * 10_001) / 2),
    slot(2, 'the last value stored in the code page', 1),
    slot(3, 'RCX after the loop', 0),
    slot(4, 'the sum of 1000 values pushed onto a stack in the code page', (1000 * 1001) / 2),
    slot(5, 'the last value popped', 1),
    slot(6, 'RSP after the loop, relative to where it started', 0),
  ]);
});
