/**
 * System registers and instructions at CPL 0, checked against the Intel SDM (Vol. 3A chapters
 * 2, 3, 4 and 8; Vol. 2 for the instructions): tests/guests/system.asm runs on the GDT, TSS,
 * IDT and paging structures of tests/guests/system.mac and checks descriptor-table loads, TLB
 * invalidation by MOV to CR3 and INVLPG, CR0.WP, and RDMSR/WRMSR/RDTSC. Expected values are
 * worked out by hand from the SDM and the guest's code, not taken from the engine.
 */

import { test } from 'node:test';
import type { GuestRun } from '../helpers/run_guest.js';
import { hex } from './guest_case.js';
import {
  FL_TEST,
  PF_P,
  PF_W,
  Sel,
  Sys,
  describeRun,
  expectDone,
  expectEvents,
  expectValues,
  runSystemCase,
  slot,
} from './system_case.js';
import type { ExpectedEvent } from './system_case.js';

const { STACK_TOP, GDT, IDT, RESULTS, PML4, PT1, SRO, VPAGE } = Sys;
const B = BigInt;

const MA = 0xaaaa_0000_0000_aaaan;
const MB = 0xbbbb_0000_0000_bbbbn;
const W1 = 0x1111_0000_0000_1111n;
const W2 = 0x2222_0000_0000_2222n;
const W3 = 0x3333_0000_0000_3333n;
const CR0_PE = 1n << 0n;
const CR0_WP = 1n << 16n;
const CR0_PG = 1n << 31n;
// Page-table entry bits (SDM Vol. 3A, Table 4-20).
const PTE_P = 1n << 0n;
const PTE_A = 1n << 5n;
const PTE_D = 1n << 6n;

const run = (name: string): Promise<GuestRun> => runSystemCase('system', name);

/** A fault at CPL 0 on the case's stack with RFLAGS = FL_TEST. */
const fault = (vector: number, errorCode: number, rip: bigint): ExpectedEvent => ({
  vector,
  errorCode,
  rip,
  cs: Sel.KCODE,
  rflags: FL_TEST,
  rsp: B(STACK_TOP),
  ss: Sel.KDATA,
  frame: B(STACK_TOP - 40),
});

test('LGDT, LIDT and LTR as SGDT, SIDT and STR read them back; LTR marks the TSS busy', async () => {
  const r = await run('SETUP');
  expectDone(r);
  expectEvents(r, []);
  const mem = r.machine.vm.memory;
  expectValues(r, [
    { what: 'SGDT limit', got: B(mem.read16(RESULTS + 0x200)), value: 0x4fn },
    { what: 'SGDT base', got: mem.read64(RESULTS + 0x202), value: B(GDT) },
    { what: 'SIDT limit', got: B(mem.read16(RESULTS + 0x210)), value: 0xfffn },
    { what: 'SIDT base', got: mem.read64(RESULTS + 0x212), value: B(IDT) },
    { what: 'STR', got: slot(r, 0), value: B(Sel.TSS) },
    { what: 'SLDT (no LDT loaded)', got: slot(r, 1), value: 0n },
    // SDM Vol. 3A, 8.2.2: LTR sets the busy flag (type 9 -> 11).
    { what: 'access byte of the TSS descriptor', got: slot(r, 2), value: 0x8bn },
    // SDM Vol. 3A, 3.4.5.1: loading a segment register sets the accessed bit.
    { what: 'access byte of KCODE (CS loaded)', got: slot(r, 3), value: 0x9bn },
    { what: 'access byte of KDATA (DS loaded)', got: slot(r, 4), value: 0x93n },
    { what: 'access byte of UCODE (never loaded)', got: slot(r, 5), value: 0xfan },
    { what: 'CS after the far return', got: slot(r, 6), value: B(Sel.KCODE) },
    { what: 'DS', got: slot(r, 7), value: B(Sel.KDATA) },
    { what: 'SS', got: slot(r, 8), value: B(Sel.KDATA) },
    { what: 'CR3 after MOV to CR3', got: slot(r, 9), value: B(PML4) },
    {
      what: 'CR0.PG|WP|PE',
      got: slot(r, 10) & (CR0_PG | CR0_WP | CR0_PE),
      value: CR0_PG | CR0_WP | CR0_PE,
    },
  ]);
});

test('VERR and VERW set ZF by the segment and the privilege', async () => {
  const r = await run('VERRW');
  expectDone(r);
  const zf = (
    k: number,
    what: string,
    value: bigint,
  ): { what: string; got: bigint; value: bigint } => ({
    what,
    got: slot(r, k),
    value,
  });
  expectValues(r, [
    zf(0, 'VERR of execute/read code', 1n),
    zf(1, 'VERW of code', 0n),
    zf(2, 'VERR of DPL 0 data', 1n),
    zf(3, 'VERW of DPL 0 data', 1n),
    zf(4, 'VERR of DPL 3 data with RPL 3', 1n),
    zf(5, 'VERW of the TSS (a system segment)', 0n),
    zf(6, 'VERR of the null selector', 0n),
    zf(7, 'VERR beyond the GDT limit', 0n),
  ]);
});

/** The values of the REMAP sequence in tests/guests/system.asm. */
function expectRemap(r: GuestRun, flush: string): void {
  expectValues(r, [
    { what: 'read through VPAGE -> FRAME_A', got: slot(r, 0), value: MA },
    { what: 'code called at VPAGE -> FRAME_A', got: slot(r, 1), value: 0xaaaa_0001n },
    { what: `read through VPAGE after the remap and ${flush}`, got: slot(r, 2), value: MB },
    { what: `code called at VPAGE after ${flush}`, got: slot(r, 3), value: 0xbbbb_0001n },
    { what: 'FRAME_A + 8 (written before)', got: slot(r, 4), value: W1 },
    { what: `FRAME_B + 8 (written after ${flush})`, got: slot(r, 5), value: W2 },
  ]);
}

test('MOV to CR3 makes a changed PTE visible to reads, writes and fetches', async () => {
  const r = await run('CR3');
  expectDone(r);
  expectEvents(r, []);
  expectRemap(r, 'MOV to CR3');
});

test('INVLPG makes a changed PTE visible, and a PTE made not present fault', async () => {
  const r = await run('INVLPG');
  expectDone(r);
  expectRemap(r, 'INVLPG');
  expectEvents(r, [{ ...fault(14, 0, slot(r, 6)), cr2: B(VPAGE + 0x10) }]);
});

test('INVLPG of any address in a 2 MiB page drops that page translation', async () => {
  const r = await run('INVLPG_LARGE');
  expectDone(r);
  expectValues(r, [
    { what: 'read at 0xa00010 -> 0xa00010', got: slot(r, 0), value: 0x5555_0000_0000_5555n },
    {
      what: 'read at 0xa00010 after PDE[5] -> 0xc00000 and INVLPG 0xbff000',
      got: slot(r, 1),
      value: 0x6666_0000_0000_6666n,
    },
  ]);
});

test('a global translation goes with INVLPG and with a MOV to CR4 that changes PGE', async () => {
  const r = await run('PGE');
  expectDone(r);
  expectEvents(r, []);
  expectValues(r, [
    { what: 'read through the global VPAGE -> FRAME_A', got: slot(r, 0), value: MA },
    { what: 'read after clearing CR4.PGE, VPAGE -> FRAME_B', got: slot(r, 2), value: MB },
    { what: 'read after INVLPG, VPAGE -> FRAME_A (global)', got: slot(r, 3), value: MA },
    { what: 'read after INVLPG, VPAGE -> FRAME_B (global)', got: slot(r, 4), value: MB },
  ]);
});

test('MOV to CR0 and CR4 with reserved or inconsistent bits is #GP(0); CR1 is #UD', async () => {
  const r = await run('CR_RSVD');
  expectDone(r);
  expectEvents(r, [
    fault(13, 0, slot(r, 0)),
    fault(13, 0, slot(r, 1)),
    fault(13, 0, slot(r, 2)),
    fault(13, 0, slot(r, 3)),
    fault(13, 0, slot(r, 4)),
    { ...fault(6, 0, slot(r, 5)), errorCode: undefined },
  ]);
  expectValues(r, [
    { what: 'CR0 after the rejected writes', got: slot(r, 0x12), value: slot(r, 0x10) },
    { what: 'CR4 after the rejected writes', got: slot(r, 0x13), value: slot(r, 0x11) },
  ]);
});

test('CR0.WP toggled by MOV to CR0 decides whether a supervisor write to a read-only page faults', async () => {
  // SDM Vol. 3A, 4.6.1: with WP = 0 supervisor writes ignore R/W; 4.8: the write sets D.
  const r = await run('WP');
  expectDone(r);
  const pfw = PF_P | PF_W;
  expectEvents(r, [
    { ...fault(14, pfw, slot(r, 0)), cr2: B(SRO + 8) },
    { ...fault(14, pfw, slot(r, 5)), cr2: B(SRO + 0x10) },
    { ...fault(14, pfw, slot(r, 6)), cr2: B(SRO + 8) },
  ]);
  const mem = r.machine.vm.memory;
  expectValues(r, [
    { what: 'CR0.WP after clearing it', got: slot(r, 1) & CR0_WP, value: 0n },
    { what: 'CR0.WP after setting it', got: slot(r, 4) & CR0_WP, value: CR0_WP },
    { what: 'CR0 else unchanged', got: slot(r, 1), value: slot(r, 4) & ~CR0_WP },
    { what: 'read back after the write with WP = 0', got: slot(r, 2), value: W3 },
    {
      what: 'the read-only PTE after the write',
      got: slot(r, 3),
      value: B(SRO) | PTE_P | PTE_A | PTE_D,
    },
    { what: 'SRO + 8 at the end', got: mem.read64(SRO + 8), value: W3 },
    { what: 'SRO + 0x10 at the end', got: mem.read64(SRO + 0x10), value: 0n },
    {
      what: 'the PTE at the end',
      got: mem.read64(PT1 + ((SRO - 0x20_0000) >> 12) * 8),
      value: B(SRO) | PTE_P | PTE_A | PTE_D,
    },
  ]);
});

test('far JMP, CALL and RET at CPL 0; targets of another privilege or type are #GP(selector)', async () => {
  // SDM Vol. 2, JMP and CALL (far, non-conforming code: RPL <= CPL and DPL = CPL; a data
  // segment is #GP(selector)); CALL pushes CS, then RIP, each in 8 bytes; RETF pops both.
  const r = await run('FAR');
  expectDone(r);
  expectValues(r, [
    { what: 'CS after the far JMP', got: slot(r, 0), value: B(Sel.KCODE) },
    { what: 'the return RIP the far CALL pushed', got: slot(r, 3), value: slot(r, 2) },
    { what: 'the CS the far CALL pushed', got: slot(r, 4) & 0xffffn, value: B(Sel.KCODE) },
    { what: 'RSP after RETF', got: slot(r, 1), value: B(STACK_TOP) },
  ]);
  expectEvents(r, [
    fault(13, Sel.KCODE, slot(r, 5)),
    fault(13, Sel.UCODE, slot(r, 6)),
    fault(13, Sel.KDATA, slot(r, 7)),
  ]);
});

test('LTR of a busy TSS or a data segment is #GP(selector), of a null selector #GP(0)', async () => {
  const r = await run('LTR');
  expectDone(r);
  expectEvents(r, [
    fault(13, Sel.TSS, slot(r, 0)),
    fault(13, Sel.KDATA, slot(r, 1)),
    fault(13, 0, slot(r, 2)),
  ]);
});

test('RDMSR and WRMSR of an unknown MSR are #GP(0) and change no register', async () => {
  const r = await run('MSR_UNKNOWN');
  expectDone(r);
  expectEvents(r, [fault(13, 0, slot(r, 0)), fault(13, 0, slot(r, 3))]);
  expectValues(r, [
    { what: 'RAX after the faulting RDMSR', got: slot(r, 1), value: 0x1111n },
    { what: 'RDX after the faulting RDMSR', got: slot(r, 2), value: 0x2222n },
  ]);
});

test('WRMSR/RDMSR of IA32_LSTAR round-trips EDX:EAX; a non-canonical value is #GP(0)', async () => {
  const r = await run('MSR_LSTAR');
  expectDone(r);
  expectEvents(r, [fault(13, 0, slot(r, 2))]);
  expectValues(r, [
    { what: 'RAX after RDMSR', got: slot(r, 0), value: 0x1234_5678n },
    { what: 'RDX after RDMSR', got: slot(r, 1), value: 0xffff_8000n },
    { what: 'RAX after the rejected write', got: slot(r, 3), value: 0x1234_5678n },
    { what: 'RDX after the rejected write', got: slot(r, 4), value: 0xffff_8000n },
  ]);
});

test('IA32_EFER reads LME and LMA in IA-32e mode; a reserved bit is #GP(0)', async () => {
  const r = await run('MSR_EFER');
  expectDone(r);
  expectEvents(r, [fault(13, 0, slot(r, 2))]);
  const lmeLma = (1n << 8n) | (1n << 10n);
  expectValues(r, [
    { what: 'EFER.LME|LMA', got: slot(r, 0) & lmeLma, value: lmeLma },
    { what: 'EDX of RDMSR EFER', got: slot(r, 1), value: 0n },
    { what: 'EFER after the rejected write', got: slot(r, 3), value: slot(r, 0) },
  ]);
});

test('RDTSC increases, clears the high halves, and starts from a value WRMSR wrote', async () => {
  const r = await run('RDTSC');
  expectDone(r);
  expectEvents(r, []);
  const halves = [0, 1, 2, 3, 4, 5, 6, 7].filter((k) => slot(r, k) > 0xffff_ffffn);
  const tsc = (k: number): bigint => (slot(r, k + 1) << 32n) | slot(r, k);
  const [t1, t2, t3, t4] = [tsc(0), tsc(2), tsc(4), tsc(6)];
  const base = 1n << 40n;
  const problems = [
    ...halves.map((k) => `slot ${k} has high bits set: ${hex(slot(r, k))}`),
    ...(t2 > t1 ? [] : [`the second RDTSC ${hex(t2)} is not above the first ${hex(t1)}`]),
    ...(t3 >= base && t3 < base + (1n << 36n)
      ? []
      : [`RDTSC after WRMSR of ${hex(base)} reads ${hex(t3)}`]),
    ...(t4 >= t3 ? [] : [`RDMSR of the TSC ${hex(t4)} is below the RDTSC before it ${hex(t3)}`]),
  ];
  if (problems.length > 0) {
    throw new Error(`RDTSC:\n  ${problems.join('\n  ')}\n${describeRun(r)}`);
  }
});
