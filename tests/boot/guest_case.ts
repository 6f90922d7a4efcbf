/**
 * Runs one case of an architecture test guest (tests/guests/NAME.asm assembled with nasm
 * `-D` defines, usually `CASE=…`) on a fresh machine, and asserts on what it left: the stop,
 * the exception, registers and guest memory. Every failure message says what was expected,
 * what came, and the vCPU state.
 *
 * A case that needs CR0.WP = 0 or EFER.NXE = 0 from the start gets it in its entry state, as a
 * VMM would set it, through `sregs`.
 */

import { join } from 'node:path';
import { assembleGuest, REPO_ROOT } from '../guests/build_guest.js';
import { Machine } from '../../src/vm/machine.js';
import type { Regs, Sregs } from '../../src/engine/types.js';
import { explain } from '../helpers/run_guest.js';
import type { GuestRun } from '../helpers/run_guest.js';

/** The addresses of tests/guests/paging.mac, which the guests' paging structures use. */
export const Paging = {
  /** CR3 at entry: the boot PML4 (src/vm/layout.ts). */
  BOOT_PML4: 0x9000,
  PDPT: 0x20_0000,
  PD: 0x20_1000,
  PT: 0x20_2000,
  /** Where guests store what they saw. */
  RESULTS: 0x20_3000,
  /** PT[i] maps FRAMES + i * 0x1000 when present. */
  FRAMES: 0x21_0000,
  /** The 2 MiB frame of PD[4]. */
  BIG_FRAME: 0x40_0000,
  /** Linear address of PT[0]: PML4 index 1, PDPT index 2, PD index 3. */
  WINDOW: 0x0000_0080_8060_0000n,
  /** Linear address of PD[4], a 2 MiB page. */
  BIG: 0x0000_0080_8080_0000n,
} as const;

/** How a case runs. */
export interface CaseOptions {
  /** nasm `-D` defines. */
  defines?: Readonly<Record<string, string | number>>;
  /** Changes the entry state before the first instruction. */
  sregs?: (sregs: Sregs) => void;
  /** Writes the case's inputs into the fresh machine before it runs. */
  prepare?: (machine: Machine) => void;
  instructionLimit?: number;
}

/** A case's machine before it runs, and what it has written to its console so far. */
export interface CaseMachine {
  readonly machine: Machine;
  readonly console: () => string;
}

/**
 * Builds `tests/guests/NAME.asm` with the case's defines into a fresh machine with 64 MiB of
 * RAM, prepared and at its entry, for a test that drives the vCPU itself.
 */
export async function createCase(name: string, options: CaseOptions = {}): Promise<CaseMachine> {
  const kernel = await assembleGuest(
    join(REPO_ROOT, 'tests/guests', `${name}.asm`),
    options.defines ?? {},
  );
  const chunks: Buffer[] = [];
  const machine = await Machine.create({
    kernel,
    memorySize: 64 * 1024 * 1024,
    instructionLimit: options.instructionLimit ?? 10_000_000,
    console: {
      write(data: Uint8Array): void {
        chunks.push(Buffer.from(data));
      },
    },
  });
  if (options.sregs !== undefined) {
    const sregs = machine.vcpu.getSregs();
    options.sregs(sregs);
    machine.vcpu.setSregs(sregs);
  }
  options.prepare?.(machine);
  return { machine, console: () => Buffer.concat(chunks).toString('latin1') };
}

/** Builds `tests/guests/NAME.asm` with the case's defines and runs it on 64 MiB of RAM. */
export async function runCase(name: string, options: CaseOptions = {}): Promise<GuestRun> {
  const { machine, console } = await createCase(name, options);
  const stop = machine.run();
  return { machine, stop, console: console() };
}

export const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** The stop, the console and the vCPU state: the context of every failure message. */
export function context(run: GuestRun): string {
  const text = explain(run, 10);
  // A fault, halt or limit detail already ends with the vCPU state; a debug exit has none.
  return run.stop.kind === 'debug-exit'
    ? `${text}\n--- vCPU state ---\n${run.machine.describeVcpu()}`
    : text;
}

/** An exception as the machine reported it. */
export interface Fault {
  /** `#PF`, `#GP`, …. */
  vector: string;
  rip: bigint;
  errorCode?: number;
  /** Only for #PF. */
  cr2?: bigint;
}

function formatFault(f: Fault): string {
  const parts = [`${f.vector} at rip ${hex(f.rip)}`];
  if (f.errorCode !== undefined) parts.push(`error code ${hex(f.errorCode)}`);
  if (f.cr2 !== undefined) parts.push(`cr2 ${hex(f.cr2)}`);
  return parts.join(', ');
}

/** The exception that stopped the run, parsed from the machine's report; undefined if none. */
export function faultOf(run: GuestRun): Fault | undefined {
  if (run.stop.kind !== 'fault') return undefined;
  const m =
    /^guest exception (#\w+|vector \d+) at rip 0x([0-9a-f]+)(?:, error code 0x([0-9a-f]+))?(?:, cr2 0x([0-9a-f]+))?/.exec(
      run.stop.detail,
    );
  if (m === null) return undefined;
  const [, vector = '', rip = '0', code, cr2] = m;
  const fault: Fault = { vector, rip: BigInt(`0x${rip}`) };
  if (code !== undefined) fault.errorCode = Number.parseInt(code, 16);
  if (cr2 !== undefined) fault.cr2 = BigInt(`0x${cr2}`);
  return fault;
}

/** Asserts that the run stopped with exactly `expected`. */
export function expectFault(run: GuestRun, expected: Fault): void {
  const got = faultOf(run);
  const same =
    got !== undefined &&
    got.vector === expected.vector &&
    got.rip === expected.rip &&
    got.errorCode === expected.errorCode &&
    got.cr2 === expected.cr2;
  if (!same) {
    throw new Error(
      `expected ${formatFault(expected)}\n` +
        `     got ${got === undefined ? `no exception (${run.stop.kind})` : formatFault(got)}\n` +
        context(run),
    );
  }
}

/** Asserts that the guest ended through the debug-exit port with `value`. */
export function expectExit(run: GuestRun, value: number): void {
  const code = (value << 1) | 1;
  if (run.stop.kind !== 'debug-exit' || run.stop.code !== code) {
    throw new Error(
      `expected a debug exit with value ${hex(value)} (exit code ${code})\n` +
        `     got ${run.stop.kind === 'debug-exit' ? `exit code ${run.stop.code}` : run.stop.kind}\n` +
        context(run),
    );
  }
}

/** Asserts general registers; lists every one that differs. */
export function expectRegs(run: GuestRun, expected: Partial<Regs>, what: string): void {
  const regs = run.machine.vcpu.getRegs();
  const wrong: string[] = [];
  for (const [name, value] of Object.entries(expected) as [keyof Regs, bigint][]) {
    if (regs[name] !== value) {
      wrong.push(`  ${name}: expected ${hex(value)}, got ${hex(regs[name])}`);
    }
  }
  if (wrong.length > 0) {
    throw new Error(`${what}: registers differ\n${wrong.join('\n')}\n${context(run)}`);
  }
}

/** One 8-byte value the test expects in guest-physical memory. */
export interface Qword {
  what: string;
  gpa: number;
  value: bigint;
}

/** Asserts 8-byte values in guest memory; lists every one that differs. */
export function expectQwords(run: GuestRun, expected: readonly Qword[]): void {
  const mem = run.machine.vm.memory;
  const wrong = expected
    .filter((q) => mem.read64(q.gpa) !== q.value)
    .map(
      (q) => `  ${q.what} (${hex(q.gpa)}): expected ${hex(q.value)}, got ${hex(mem.read64(q.gpa))}`,
    );
  if (wrong.length > 0) {
    throw new Error(`guest memory differs\n${wrong.join('\n')}\n${context(run)}`);
  }
}

/** Asserts guest-physical bytes `[gpa, gpa + expected.length)`; reports the first difference. */
export function expectBytes(run: GuestRun, gpa: number, expected: Uint8Array, what: string): void {
  const got = run.machine.vm.memory.view(gpa, expected.length);
  const at = expected.findIndex((b, i) => got[i] !== b);
  if (at >= 0) {
    const window = (bytes: Uint8Array): string =>
      Array.from(bytes.subarray(Math.max(0, at - 4), at + 12), (b) =>
        b.toString(16).padStart(2, '0'),
      ).join(' ');
    throw new Error(
      `${what}: ${expected.length} bytes at ${hex(gpa)} differ first at offset ${at} ` +
        `(${hex(gpa + at)}): expected ${hex(expected[at] ?? 0)}, got ${hex(got[at] ?? 0)}\n` +
        `  expected from offset ${Math.max(0, at - 4)}: ${window(expected)}\n` +
        `       got from offset ${Math.max(0, at - 4)}: ${window(got)}\n` +
        context(run),
    );
  }
}
