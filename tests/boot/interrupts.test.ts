/**
 * Interrupt and exception delivery in IA-32e mode, checked against the Intel SDM Vol. 3A,
 * chapter 6: tests/guests/interrupts.asm builds a GDT, a 64-bit TSS (RSP0, IST1, IST2) and an
 * IDT whose handlers record the frame the processor pushed (tests/guests/system.mac), then
 * raises exceptions and interrupts and returns from them with IRETQ. Expected values are
 * worked out by hand from the SDM and the guest's code, not taken from the engine.
 *
 * The frame (6.14.2): the processor aligns RSP down to 16 bytes (or loads it from the TSS),
 * then pushes SS, RSP, RFLAGS, CS, RIP and, for the vectors of Table 6-1 that have one, the
 * error code. A case that starts at RSP = STACK_TOP (16-aligned) therefore has the saved RIP
 * at STACK_TOP - 40 whether an error code follows or not.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GuestRun } from '../helpers/run_guest.js';
import { context } from './guest_case.js';
import {
  Exit,
  FL_TEST,
  IF,
  NT,
  PF_I,
  PF_W,
  Sel,
  Sys,
  describeRun,
  events,
  expectDone,
  expectEvents,
  expectValues,
  runSystemCase,
  runWithWatchdog,
  slot,
} from './system_case.js';
import type { ExpectedEvent } from './system_case.js';

const { STACK_TOP, IST1_TOP, IST2_TOP, HOLE } = Sys;
const B = BigInt;
/** The saved RIP of an event taken at RSP = STACK_TOP. */
const FRAME = B(STACK_TOP - 40);

const run = (name: string): Promise<GuestRun> => runSystemCase('interrupts', name);

/** A fault at CPL 0 on the case's stack, RFLAGS = FL_TEST: what every such event shares. */
const kernelFault = (vector: number, errorCode: number | undefined): ExpectedEvent => ({
  vector,
  errorCode,
  cs: Sel.KCODE,
  rflags: FL_TEST,
  rsp: B(STACK_TOP),
  ss: Sel.KDATA,
  frame: FRAME,
  handlerIf: false,
  handlerCs: Sel.KCODE,
  handlerSs: Sel.KDATA,
});

test('DIV by 0 is #DE without error code, saved RIP at the DIV, which wrote nothing', async () => {
  const r = await run('DE');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(0, undefined), rip: slot(r, 0) }]);
  expectValues(r, [
    { what: 'EAX after the faulting DIV', got: slot(r, 1), value: 1234n },
    { what: 'RSP after IRETQ', got: slot(r, 2), value: B(STACK_TOP) },
  ]);
});

test('UD2 is #UD without error code at the UD2', async () => {
  const r = await run('UD');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(6, undefined), rip: slot(r, 0) }]);
});

test('a read or a write at a non-canonical address is #GP(0) at the access', async () => {
  const r = await run('GP_NC');
  expectDone(r);
  expectEvents(r, [
    { ...kernelFault(13, 0), rip: slot(r, 0) },
    { ...kernelFault(13, 0), rip: slot(r, 1) },
  ]);
});

test('#PF pushes the error code and the handler finds the address in CR2', async () => {
  // SDM Vol. 3A, 4.7: P = 0 (not present), W/R for a write, I/D for a fetch with NXE = 1.
  const r = await run('PF');
  expectDone(r);
  expectEvents(r, [
    { ...kernelFault(14, 0), rip: slot(r, 0), cr2: B(HOLE + 0x18) },
    { ...kernelFault(14, PF_W), rip: slot(r, 1), cr2: B(HOLE + 0xff8) },
    { ...kernelFault(14, PF_I), rip: B(HOLE + 0x100), cr2: B(HOLE + 0x100) },
  ]);
});

test('INT3 and INT n save the next instruction; INT 13 pushes no error code', async () => {
  const r = await run('SOFT');
  expectDone(r);
  const soft = (vector: number, rip: bigint): ExpectedEvent => ({
    ...kernelFault(vector, undefined),
    rip,
  });
  expectEvents(r, [soft(3, slot(r, 1)), soft(0x80, slot(r, 3)), soft(13, slot(r, 5))]);
  expectValues(r, [
    { what: 'length of INT3', got: slot(r, 1) - slot(r, 0), value: 1n },
    { what: 'length of INT 0x80', got: slot(r, 3) - slot(r, 2), value: 2n },
    { what: 'RSP after the three IRETQs', got: slot(r, 6), value: B(STACK_TOP) },
  ]);
});

test('a fault pushes RF = 1, a software interrupt RF = 0', async () => {
  // SDM Vol. 3, "Instruction-Breakpoint Exception Condition" (18.3.1.1 in recent editions):
  // "For any fault-class exception except a debug exception generated in response to an
  // instruction breakpoint, the value pushed for RF is 1"; software interrupts push RF = 0.
  const fault = (vector: number, errorCode: number | undefined): ExpectedEvent => ({
    vector,
    errorCode,
    rf: true,
  });
  const soft = (vector: number): ExpectedEvent => ({ vector, errorCode: undefined, rf: false });
  const [de, gp, pf, sw] = await Promise.all([run('DE'), run('GP_NC'), run('PF'), run('SOFT')]);
  expectDone(de);
  expectEvents(de, [fault(0, undefined)]);
  expectDone(gp);
  expectEvents(gp, [fault(13, 0), fault(13, 0)]);
  expectDone(pf);
  expectEvents(pf, [fault(14, 0), fault(14, PF_W), fault(14, PF_I)]);
  expectDone(sw);
  expectEvents(sw, [soft(3), soft(0x80), soft(13)]);
});

test('the frame is pushed at RSP aligned down to 16 bytes, and IRETQ restores RSP', async () => {
  const r = await run('ALIGN');
  expectDone(r);
  const at = (rsp: number): Partial<ExpectedEvent> => ({
    rsp: B(rsp),
    frame: B((rsp & ~15) - 40),
    ss: Sel.KDATA,
  });
  expectEvents(r, [
    { vector: 0x80, errorCode: undefined, ...at(STACK_TOP - 0x108) },
    { vector: 0x80, errorCode: undefined, ...at(STACK_TOP - 0x204) },
    { vector: 13, errorCode: 0, rip: slot(r, 3), ...at(STACK_TOP - 0x308) },
  ]);
  expectValues(r, [
    { what: 'RSP after the first IRETQ', got: slot(r, 1), value: B(STACK_TOP - 0x108) },
    { what: 'RSP after the second IRETQ', got: slot(r, 2), value: B(STACK_TOP - 0x204) },
    { what: 'RSP after the #GP handler', got: slot(r, 4), value: B(STACK_TOP - 0x308) },
  ]);
});

test('a gate that names an IST switches to that stack at the same privilege', async () => {
  // SDM Vol. 3A, 6.14.5: the IST stack is used whatever the privilege change; SS is loaded
  // (with a null selector) only on a privilege change (6.14.4).
  const r = await run('IST');
  expectDone(r);
  expectEvents(r, [
    {
      vector: 0x80,
      errorCode: undefined,
      rsp: B(STACK_TOP),
      ss: Sel.KDATA,
      frame: B(IST1_TOP - 40),
      handlerSs: Sel.KDATA,
    },
    { ...kernelFault(6, undefined), rip: slot(r, 2), frame: B(IST2_TOP - 40) },
  ]);
  expectValues(r, [
    { what: 'RSP after IRETQ from IST1', got: slot(r, 1), value: B(STACK_TOP) },
    { what: 'RSP after IRETQ from IST2', got: slot(r, 3), value: B(STACK_TOP) },
  ]);
});

test('an interrupt gate clears IF, a trap gate does not; IRETQ restores it', async () => {
  // SDM Vol. 3A, 6.12.1.3.
  const r = await run('IF_GATES');
  expectDone(r);
  const int80 = (saved: bigint, handlerIf: boolean): ExpectedEvent => ({
    vector: 0x80,
    errorCode: undefined,
    rflags: saved,
    handlerIf,
  });
  expectEvents(r, [int80(FL_TEST | IF, false), int80(FL_TEST | IF, true), int80(FL_TEST, false)]);
  expectValues(r, [
    { what: 'RFLAGS after IRETQ (interrupt gate)', got: slot(r, 0), value: FL_TEST | IF },
    { what: 'RFLAGS after IRETQ (trap gate)', got: slot(r, 1), value: FL_TEST | IF },
  ]);
});

test('#UD through a not-present gate is #NP(6 * 8 + IDT + EXT) at the UD2', async () => {
  // SDM Vol. 3A, 6.13 (error code: EXT = 1, IDT = 1, index 6) and Table 6-5 (benign, then
  // contributory: handled serially).
  const r = await run('NP_BENIGN');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(11, 6 * 8 + 2 + 1), rip: slot(r, 0) }]);
});

test('INT n through a not-present gate is #NP(vector * 8 + IDT) at the INT, without EXT', async () => {
  // SDM Vol. 3A, 6.13: EXT = 0 for a software interrupt; the INT is the faulting instruction.
  const r = await run('INT_NP');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(11, 0x80 * 8 + 2), rip: slot(r, 0) }]);
});

test('INT n through a gate whose selector is a data segment is #GP(selector)', async () => {
  const r = await run('INT_BADCS');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(13, Sel.KDATA), rip: slot(r, 0) }]);
});

test('INT n through an IDT entry of another type (call gate) is #GP(vector * 8 + IDT)', async () => {
  const r = await run('INT_BADTYPE');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(13, 0x80 * 8 + 2), rip: slot(r, 0) }]);
});

test('INT n beyond the IDT limit is #GP(vector * 8 + IDT)', async () => {
  const r = await run('IDT_LIMIT');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(13, 0x80 * 8 + 2), rip: slot(r, 0) }]);
});

test('IRETQ with NT = 1 is #GP(0)', async () => {
  const r = await run('IRET_NT');
  expectDone(r);
  expectEvents(r, [{ ...kernelFault(13, 0), rip: slot(r, 0), rflags: FL_TEST | NT }]);
});

/** The #DF every double-fault case expects: error code 0, on IST1 (saved CS:RIP undefined). */
const doubleFault: ExpectedEvent = {
  vector: 8,
  errorCode: 0,
  frame: B(IST1_TOP - 40),
  handlerIf: false,
  handlerCs: Sel.KCODE,
  handlerSs: Sel.KDATA,
};

test('#NP while delivering #GP (two contributory exceptions) is #DF with error code 0', async () => {
  const r = await run('DF_CONTRIB');
  expectDone(r, Exit.DF);
  expectEvents(r, [doubleFault]);
});

test('#PF while delivering #PF (its IST stack not present) is #DF on its own IST', async () => {
  const r = await run('DF_PF');
  expectDone(r, Exit.DF);
  expectEvents(r, [doubleFault]);
});

test('#NP while delivering #PF (a page fault, then a contributory exception) is #DF', async () => {
  const r = await run('DF_PF_NP');
  expectDone(r, Exit.DF);
  expectEvents(r, [doubleFault]);
});

/** Asserts a triple fault: the machine shut down and no handler ran. */
function expectShutdown(r: GuestRun): void {
  if (r.stop.kind !== 'shutdown' || events(r).length !== 0) {
    throw new Error(
      `expected a shutdown (triple fault) with no event\n     got ${r.stop.kind}\n` +
        describeRun(r),
    );
  }
}

test('a #PF while delivering #DF is a triple fault: the machine shuts down', async () => {
  expectShutdown(await run('TRIPLE_PF'));
});

test('#NP while delivering #DF is a triple fault', async () => {
  expectShutdown(await run('TRIPLE_NP'));
});

test('the 8254 at 1 kHz through the 8259A wakes HLT: 5 ticks, each saved at the next instruction', async () => {
  const { run: r, elapsedNs } = await runWithWatchdog('interrupts', 'TIMER');
  expectDone(r);
  const afterHlt = slot(r, 2);
  const tick: ExpectedEvent = {
    vector: 0x20,
    errorCode: undefined,
    rip: afterHlt,
    cs: Sel.KCODE,
    rf: false,
    rsp: B(STACK_TOP),
    ss: Sel.KDATA,
    frame: FRAME,
    handlerIf: false,
  };
  expectEvents(r, [tick, tick, tick, tick, tick]);
  expectValues(r, [{ what: 'ticks counted', got: slot(r, 0), value: 5n }]);
  for (const e of events(r)) {
    assert.notEqual(e.rflags & IF, 0n, `IF clear in a tick's saved RFLAGS\n${describeRun(r)}`);
  }
  // 8254 mode 2 with count 1193: one IRQ 0 edge every 1193 / 1193182 s (0.99985 ms). Five
  // ticks span at least four periods after the count was written.
  const fourPeriods = (4n * 1193n * 1_000_000_000n) / 1_193_182n;
  assert.ok(
    elapsedNs >= fourPeriods,
    `5 ticks came within ${elapsedNs} ns, under 4 periods (${fourPeriods} ns)\n${context(r)}`,
  );
  // The TSC counts the machine's nanoseconds (1 GHz, the platform's promise to the kernel:
  // tsc_early_khz=1000000).
  const tsc = slot(r, 3) - slot(r, 1);
  assert.ok(
    tsc >= fourPeriods - 1000n,
    `the TSC advanced ${tsc} over 5 ticks, under 4 periods at 1 GHz\n${describeRun(r)}`,
  );
});

test('an external interrupt through a not-present gate is #NP(vector * 8 + IDT + EXT)', async () => {
  // SDM Vol. 3A, 6.13: EXT = 1 for an event external to the program; saved RIP where the
  // interrupt was taken, after the HLT.
  const { run: r } = await runWithWatchdog('interrupts', 'TIMER_NP');
  expectDone(r);
  expectEvents(r, [
    {
      vector: 11,
      errorCode: 0x20 * 8 + 2 + 1,
      rip: slot(r, 2),
      cs: Sel.KCODE,
      rsp: B(STACK_TOP),
      ss: Sel.KDATA,
      frame: FRAME,
      handlerIf: false,
    },
  ]);
  const [e] = events(r);
  assert.notEqual((e?.rflags ?? 0n) & IF, 0n, `IF clear in the saved RFLAGS\n${describeRun(r)}`);
});
