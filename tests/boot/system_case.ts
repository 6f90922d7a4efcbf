/**
 * The system-level test guests (tests/guests/interrupts.asm, privilege.asm, system.asm) and
 * what they leave: the addresses and selectors of tests/guests/system.mac, the event records
 * their interrupt handlers write, and assertions on both that list every difference with the
 * guest's events and the vCPU state.
 */

import type { GuestRun } from '../helpers/run_guest.js';
import { context, createCase, hex, runCase } from './guest_case.js';
import type { CaseOptions } from './guest_case.js';

/** The addresses of tests/guests/system.mac (identity-mapped). */
export const Sys = {
  PML4: 0x30_0000,
  PT1: 0x30_4000,
  GDT: 0x30_5000,
  IDT: 0x30_6000,
  TSS: 0x30_7000,
  RESULTS: 0x30_8000,
  NEVENTS: 0x30_8ff8,
  EVENTS: 0x30_9000,
  STACK_TOP: 0x30_c000,
  RSP0_TOP: 0x30_e000,
  IST1_TOP: 0x31_0000,
  IST2_TOP: 0x31_2000,
  USTACK_TOP: 0x31_4000,
  UDATA: 0x31_4000,
  URO: 0x31_5000,
  SRO: 0x31_6000,
  FRAME_A: 0x31_7000,
  FRAME_B: 0x31_8000,
  VPAGE: 0x31_9000,
  HOLE: 0x31_a000,
} as const;

/** The selectors of the guest's GDT (RPL 0); user selectors are used with RPL 3. */
export const Sel = {
  KCODE32: 0x08,
  KCODE: 0x10,
  KDATA: 0x18,
  UCODE32: 0x20,
  UDATA: 0x28,
  UCODE: 0x30,
  TSS: 0x40,
} as const;

/**
 * Exit values of system.mac: done, the #DF handler ran, a fault came with nowhere to resume,
 * an expected fault did not come, the test's watchdog interrupt came first (interrupts.asm).
 */
export const Exit = {
  OK: 0x55,
  DF: 0x5d,
  UNEXPECTED: 0x7f,
  NO_FAULT: 0x7e,
  TIMEOUT: 0x7d,
} as const;

// RFLAGS bits (SDM Vol. 1, 3.4.3).
export const CF = 1n << 0n;
export const FIXED = 1n << 1n;
export const PF = 1n << 2n;
export const ZF = 1n << 6n;
export const SF = 1n << 7n;
export const TF = 1n << 8n;
export const IF = 1n << 9n;
export const DF = 1n << 10n;
export const OF = 1n << 11n;
export const NT = 1n << 14n;
export const RF = 1n << 16n;
export const AC = 1n << 18n;
/** The flags a case loads before an event (FL_TEST in system.mac). */
export const FL_TEST = FIXED | CF | PF | SF | OF;

// #PF error-code bits (SDM Vol. 3A, 4.7).
export const PF_P = 1 << 0;
export const PF_W = 1 << 1;
export const PF_U = 1 << 2;
export const PF_I = 1 << 4;

const NO_CODE = 0xffff_ffff_ffff_ffffn;
const RECORD = 128;

const VECTOR_NAMES: Readonly<Record<number, string>> = {
  0: '#DE',
  1: '#DB',
  3: '#BP',
  6: '#UD',
  8: '#DF',
  10: '#TS',
  11: '#NP',
  12: '#SS',
  13: '#GP',
  14: '#PF',
};

export const vectorName = (v: number): string => VECTOR_NAMES[v] ?? `vector ${hex(v)}`;

/** One event as the guest's handler recorded it. */
export interface GuestEvent {
  vector: number;
  /** undefined when the stub pushed none (the vector has no error code). */
  errorCode: number | undefined;
  /** The frame the processor pushed. */
  rip: bigint;
  cs: number;
  rflags: bigint;
  rsp: bigint;
  ss: number;
  /** Where the frame's RIP is: the handler's RSP at entry, plus 8 if an error code came. */
  frame: bigint;
  cr2: bigint;
  /** RFLAGS, CS and SS in the handler. */
  handlerRflags: bigint;
  handlerCs: number;
  handlerSs: number;
}

/** The events the guest recorded, in order. */
export function events(run: GuestRun): GuestEvent[] {
  const mem = run.machine.vm.memory;
  const count = Math.min(Number(mem.read64(Sys.NEVENTS)), 32);
  return Array.from({ length: count }, (_, i) => {
    const q = (k: number): bigint => mem.read64(Sys.EVENTS + i * RECORD + k * 8);
    const code = q(1);
    return {
      vector: Number(q(0)),
      errorCode: code === NO_CODE ? undefined : Number(code),
      rip: q(2),
      cs: Number(q(3)),
      rflags: q(4),
      rsp: q(5),
      ss: Number(q(6)),
      frame: q(7),
      cr2: q(8),
      handlerRflags: q(9),
      handlerCs: Number(q(10)),
      handlerSs: Number(q(11)),
    };
  });
}

function formatEvent(e: GuestEvent): string {
  return (
    `${vectorName(e.vector)} code ${e.errorCode === undefined ? 'none' : hex(e.errorCode)} ` +
    `rip ${hex(e.rip)} cs ${hex(e.cs)} rflags ${hex(e.rflags)} rsp ${hex(e.rsp)} ` +
    `ss ${hex(e.ss)} frame ${hex(e.frame)} cr2 ${hex(e.cr2)} | handler rflags ` +
    `${hex(e.handlerRflags)} cs ${hex(e.handlerCs)} ss ${hex(e.handlerSs)}`
  );
}

/** The guest's events and the run's context, for failure messages. */
export function describeRun(run: GuestRun): string {
  const list = events(run);
  const lines = list.map((e, i) => `  ${i}: ${formatEvent(e)}`);
  return (
    `events the guest recorded (${list.length}):\n` +
    `${lines.length > 0 ? lines.join('\n') : '  none'}\n${context(run)}`
  );
}

/**
 * What a test expects of one event: the vector and error code always, the rest when given.
 * `rflags` is compared without RF, which `rf` checks on its own.
 */
export interface ExpectedEvent {
  vector: number;
  errorCode: number | undefined;
  rip?: bigint;
  cs?: number;
  rflags?: bigint;
  /** RF in the saved RFLAGS (SDM Vol. 3A, 18.3.1.1: 1 for faults, 0 for INT n). */
  rf?: boolean;
  rsp?: bigint;
  ss?: number;
  frame?: bigint;
  cr2?: bigint;
  /** IF in the handler. */
  handlerIf?: boolean;
  handlerCs?: number;
  handlerSs?: number;
}

/** The fields of `got` that differ from `want`, one line each. */
function differences(want: ExpectedEvent, got: GuestEvent): string[] {
  const out: string[] = [];
  const check = (name: string, w: bigint | number | boolean | undefined, g: typeof w): void => {
    if (w !== g) {
      const show = (v: typeof w): string =>
        v === undefined ? 'none' : typeof v === 'boolean' ? String(v) : hex(v);
      out.push(`    ${name}: expected ${show(w)}, got ${show(g)}`);
    }
  };
  check('vector', want.vector, got.vector);
  check('error code', want.errorCode, got.errorCode);
  if (want.rip !== undefined) check('saved RIP', want.rip, got.rip);
  if (want.cs !== undefined) check('saved CS', want.cs, got.cs);
  if (want.rflags !== undefined) check('saved RFLAGS (RF aside)', want.rflags, got.rflags & ~RF);
  if (want.rf !== undefined) check('saved RFLAGS.RF', want.rf, (got.rflags & RF) !== 0n);
  if (want.rsp !== undefined) check('saved RSP', want.rsp, got.rsp);
  if (want.ss !== undefined) check('saved SS', want.ss, got.ss);
  if (want.frame !== undefined) check('frame (address of the saved RIP)', want.frame, got.frame);
  if (want.cr2 !== undefined) check('CR2 in the handler', want.cr2, got.cr2);
  if (want.handlerIf !== undefined) {
    check('IF in the handler', want.handlerIf, (got.handlerRflags & IF) !== 0n);
  }
  if (want.handlerCs !== undefined) check('CS in the handler', want.handlerCs, got.handlerCs);
  if (want.handlerSs !== undefined) check('SS in the handler', want.handlerSs, got.handlerSs);
  return out;
}

/** Asserts that the guest recorded exactly `expected`, in order; lists every difference. */
export function expectEvents(run: GuestRun, expected: readonly ExpectedEvent[]): void {
  const got = events(run);
  const wrong: string[] = [];
  if (got.length !== expected.length) {
    wrong.push(`  expected ${expected.length} events, got ${got.length}`);
  }
  expected.forEach((want, i) => {
    const e = got[i];
    if (e === undefined) return;
    const diff = differences(want, e);
    if (diff.length > 0) wrong.push(`  event ${i} (${vectorName(want.vector)}):`, ...diff);
  });
  if (wrong.length > 0) {
    throw new Error(`the guest's events differ\n${wrong.join('\n')}\n${describeRun(run)}`);
  }
}

/** Asserts that the guest ended through the debug-exit port with `value` (OK by default). */
export function expectDone(run: GuestRun, value: number = Exit.OK): void {
  const code = (value << 1) | 1;
  if (run.stop.kind !== 'debug-exit' || run.stop.code !== code) {
    const got =
      run.stop.kind === 'debug-exit'
        ? `a debug exit with value ${hex(run.stop.code >> 1)}`
        : run.stop.kind;
    throw new Error(
      `expected a debug exit with value ${hex(value)}\n     got ${got}\n${describeRun(run)}`,
    );
  }
}

/** SLOT(k) of system.mac: what CPL 0 code stored. */
export const slot = (run: GuestRun, k: number): bigint =>
  run.machine.vm.memory.read64(Sys.RESULTS + k * 8);

/** USLOT(k) of system.mac: what CPL 3 code stored. */
export const uslot = (run: GuestRun, k: number): bigint =>
  run.machine.vm.memory.read64(Sys.UDATA + k * 8);

/** One value the test expects, from SLOT or USLOT. */
export interface Value {
  what: string;
  got: bigint;
  value: bigint;
}

/** Asserts values the guest stored; lists every one that differs. */
export function expectValues(run: GuestRun, expected: readonly Value[]): void {
  const wrong = expected
    .filter((v) => v.got !== v.value)
    .map((v) => `  ${v.what}: expected ${hex(v.value)}, got ${hex(v.got)}`);
  if (wrong.length > 0) {
    throw new Error(`values the guest stored differ\n${wrong.join('\n')}\n${describeRun(run)}`);
  }
}

/** Builds guest NAME with -DCASE=`name` and runs it. */
export function runSystemCase(
  guest: 'interrupts' | 'privilege' | 'system',
  name: string,
  options: Omit<CaseOptions, 'defines'> = {},
): Promise<GuestRun> {
  return runCase(guest, { ...options, defines: { CASE: name } });
}

/**
 * Runs a case that halts waiting for interrupts, without blocking the event loop: if no
 * interrupt ever came the guest would halt for ever, so after `watchdogMs` the test raises
 * IR1 of the 8259A, which those cases leave unmasked for a handler that ends the run.
 * Returns the run and the host time it took in nanoseconds.
 */
export async function runWithWatchdog(
  guest: 'interrupts' | 'privilege',
  name: string,
  watchdogMs = 10_000,
): Promise<{ run: GuestRun; elapsedNs: bigint }> {
  const c = await createCase(guest, { defines: { CASE: name } });
  const watchdog = setTimeout(() => {
    c.machine.platform.pic.irq(1).pulse();
  }, watchdogMs);
  const started = process.hrtime.bigint();
  try {
    const stop = await c.machine.runAsync();
    const elapsedNs = process.hrtime.bigint() - started;
    return { run: { machine: c.machine, stop, console: c.console() }, elapsedNs };
  } finally {
    clearTimeout(watchdog);
  }
}
