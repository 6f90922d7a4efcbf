/**
 * Page-walk behaviour of 4-level paging, checked against the Intel SDM Vol. 3A, chapter 4:
 * tests/guests/paging.asm builds its own paging structures (tests/guests/paging.mac) and runs
 * one case per machine: with no IDT loaded, an exception ends the run and is reported.
 * Expected values are written out by hand from the SDM, not taken from the engine. CR0.WP and
 * EFER.NXE are set in the entry state.
 *
 * INVLPG, CR3 reloads, runtime CR0.WP changes and the U/S bit at CPL 3 are covered by the
 * system-level guests (system.test.ts, privilege.test.ts).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CR0_WP,
  EFER_NXE,
  PTE_A,
  PTE_D,
  PTE_P,
  PTE_PS,
  PTE_RW,
  PTE_XD,
} from '../../src/vm/x86_arch.js';
import type { GuestRun } from '../helpers/run_guest.js';
import {
  Paging,
  context,
  expectExit,
  expectFault,
  expectQwords,
  expectRegs,
  runCase,
} from './guest_case.js';
import type { CaseOptions } from './guest_case.js';

const { BOOT_PML4, PDPT, PD, PT, RESULTS, FRAMES, BIG_FRAME, WINDOW, BIG } = Paging;

// What tests/guests/paging.asm puts in its frames, writes and returns.
const M0 = 0x0123_4567_89ab_cdefn;
const M3 = 0x3333_cccc_3333_ccccn;
const M4 = 0x4444_bbbb_4444_bbbbn;
const MB = 0xb1b2_b3b4_b5b6_b7b8n;
const W0 = 0x0f0e_0d0c_0b0a_0908n;
const W1 = 0x1f1e_1d1c_1b1a_1918n;
const WB = 0xbfbe_bdbc_bbba_b9b8n;
const W3 = 0x3f3e_3d3c_3b3a_3938n;
const STUB_RESULT = 0x600d_600dn;
/** The guest's "all done" debug-exit value. */
const OK = 0x55;

// #PF error-code bits (SDM Vol. 3A, 4.7).
const PF_P = 1 << 0;
const PF_W = 1 << 1;
const PF_RSVD = 1 << 3;
const PF_I = 1 << 4;

const B = BigInt;
/** The entries of the guest's tables as it wrote them, before any access. */
const PML4E_1 = B(PDPT) | PTE_P | PTE_RW;
const PDPTE_2 = B(PD) | PTE_P | PTE_RW;
const PDE_3 = B(PT) | PTE_P | PTE_RW;
const PDE_4 = B(BIG_FRAME) | PTE_P | PTE_RW | PTE_PS;
const pte = (i: number, flags: bigint): bigint => B(FRAMES + i * 0x1000) | flags;

function runPaging(name: string, options: Omit<CaseOptions, 'defines'> = {}): Promise<GuestRun> {
  return runCase('paging', { ...options, defines: { CASE: name } });
}

/** RBX: the guest puts the address of the instruction that must fault there. */
const rbx = (run: GuestRun): bigint => run.machine.vcpu.getRegs().rbx;

/** The same machine for the tests that read the results of case AD. */
let adRun: Promise<GuestRun> | undefined;
async function ad(): Promise<GuestRun> {
  adRun ??= runPaging('AD');
  const run = await adRun;
  expectExit(run, OK);
  return run;
}

test('the guest tables translate: reads see the frames the entries name, writes land there', async () => {
  const run = await ad();
  assert.equal(run.machine.vcpu.getSregs().cr3, B(BOOT_PML4), 'CR3 is the boot PML4');
  expectQwords(run, [
    { what: 'read at WINDOW (PT[0] -> FRAMES)', gpa: RESULTS + 0x08, value: M0 },
    { what: 'read at BIG + 0x1230 (2 MiB PDE)', gpa: RESULTS + 0x40, value: MB },
    {
      what: 'the stub called at WINDOW + 0x6000 returned',
      gpa: RESULTS + 0x58,
      value: STUB_RESULT,
    },
    { what: 'read at WINDOW + 0x3000 (read-only)', gpa: RESULTS + 0x68, value: M3 },
    { what: 'read at WINDOW + 0x4000 (NX)', gpa: RESULTS + 0x78, value: M4 },
    { what: 'write at WINDOW + 0x10', gpa: FRAMES + 0x10, value: W0 },
    { what: 'write at WINDOW + 0x1020', gpa: FRAMES + 0x1020, value: W1 },
    { what: 'write at BIG + 0x1ff8', gpa: BIG_FRAME + 0x1ff8, value: WB },
  ]);
});

test('a read sets the accessed flag in every entry of the walk and no dirty flag', async () => {
  // SDM Vol. 3A, 4.8: A in each paging-structure entry used; D only on a write.
  expectQwords(await ad(), [
    { what: 'PML4E[1] after the read', gpa: RESULTS + 0x10, value: PML4E_1 | PTE_A },
    { what: 'PDPTE[2] after the read', gpa: RESULTS + 0x18, value: PDPTE_2 | PTE_A },
    { what: 'PDE[3] after the read', gpa: RESULTS + 0x20, value: PDE_3 | PTE_A },
    { what: 'PTE[0] after the read', gpa: RESULTS + 0x28, value: pte(0, PTE_P | PTE_RW | PTE_A) },
  ]);
});

test('a write sets the dirty flag in the PTE; a first access that writes sets A and D', async () => {
  expectQwords(await ad(), [
    {
      what: 'PTE[0] after read, then write',
      gpa: RESULTS + 0x30,
      value: pte(0, PTE_P | PTE_RW | PTE_A | PTE_D),
    },
    {
      what: 'PTE[1] after a write only',
      gpa: RESULTS + 0x38,
      value: pte(1, PTE_P | PTE_RW | PTE_A | PTE_D),
    },
  ]);
});

test('a 2 MiB page takes A on a read and D on a write in its PDE', async () => {
  expectQwords(await ad(), [
    { what: 'PDE[4] (PS = 1) after a read', gpa: RESULTS + 0x48, value: PDE_4 | PTE_A },
    {
      what: 'PDE[4] (PS = 1) after a write',
      gpa: RESULTS + 0x50,
      value: PDE_4 | PTE_A | PTE_D,
    },
  ]);
});

test('a fetch sets A and not D; reads of read-only and NX pages set A only', async () => {
  expectQwords(await ad(), [
    {
      what: 'PTE[6] after a call there',
      gpa: RESULTS + 0x60,
      value: pte(6, PTE_P | PTE_RW | PTE_A),
    },
    { what: 'PTE[3] (read-only) after a read', gpa: RESULTS + 0x70, value: pte(3, PTE_P | PTE_A) },
    {
      what: 'PTE[4] (NX) after a read',
      gpa: RESULTS + 0x80,
      value: pte(4, PTE_P | PTE_RW | PTE_XD | PTE_A),
    },
  ]);
});

test('D is set only in the entry that maps the page; a not-present entry stays as written', async () => {
  // SDM Vol. 3A, 4.8: the dirty flag of the entry that identifies the final physical address.
  // Bit 6 of an entry that references a table is ignored: the processor leaves it alone.
  expectQwords(await ad(), [
    { what: 'PML4E[1] at the end', gpa: BOOT_PML4 + 1 * 8, value: PML4E_1 | PTE_A },
    { what: 'PDPTE[2] at the end', gpa: PDPT + 2 * 8, value: PDPTE_2 | PTE_A },
    { what: 'PDE[3] at the end', gpa: PD + 3 * 8, value: PDE_3 | PTE_A },
    { what: 'PTE[2] (not present) at the end', gpa: PT + 2 * 8, value: 0n },
  ]);
});

test('a read of a not-present page is #PF with error code 0 and CR2 the address', async () => {
  const run = await runPaging('NP_READ');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: 0, cr2: WINDOW + 0x2010n });
});

test('a write to a not-present page is #PF with error code W', async () => {
  const run = await runPaging('NP_WRITE');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: PF_W, cr2: WINDOW + 0x2ff8n });
});

test('a fetch from a not-present page is #PF with error code I at the target', async () => {
  // I/D is set because EFER.NXE = 1 with 4-level paging (SDM Vol. 3A, 4.7).
  const run = await runPaging('NP_FETCH');
  expectFault(run, {
    vector: '#PF',
    rip: WINDOW + 0x2000n,
    errorCode: PF_I,
    cr2: WINDOW + 0x2000n,
  });
});

test('a read that crosses into a not-present page faults with CR2 on that page', async () => {
  // The 8 bytes at WINDOW + 0x1ffc: the first 4 are mapped, the rest are not; CR2 is the
  // first address of the access that does not translate.
  const run = await runPaging('NP_SPLIT');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: 0, cr2: WINDOW + 0x2000n });
  expectRegs(run, { rdx: WINDOW + 0x1ffcn }, 'the faulting read changes nothing');
});

test('a write that crosses into a not-present page faults and writes none of its bytes', async () => {
  // A fault restores the state from before the instruction (SDM Vol. 3A, 6.5).
  const run = await runPaging('NP_SPLIT_WRITE');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: PF_W, cr2: WINDOW + 0x2000n });
  expectQwords(run, [{ what: 'the frame under the write', gpa: FRAMES + 0x1ff8, value: 0n }]);
});

test('an instruction that crosses into a not-present page faults at its start with I set', async () => {
  const run = await runPaging('NP_FETCH_SPLIT');
  expectFault(run, {
    vector: '#PF',
    rip: WINDOW + 0x1ffen,
    errorCode: PF_I,
    cr2: WINDOW + 0x2000n,
  });
});

test('a not-present PDE is #PF with error code 0', async () => {
  const run = await runPaging('NP_PDE');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: 0, cr2: BIG + 0x40_0018n });
});

test('a canonical upper-half address without a PML4E is #PF, not #GP', async () => {
  const run = await runPaging('NP_PML4');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: 0, cr2: 0xffff_8000_0000_0000n });
});

test('a supervisor write to a read-only page with CR0.WP = 1 is #PF with error code P|W', async () => {
  const run = await runPaging('RO_WRITE');
  assert.notEqual(run.machine.vcpu.getSregs().cr0 & CR0_WP, 0n, 'CR0.WP is set at entry');
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_W,
    cr2: WINDOW + 0x3008n,
  });
  expectQwords(run, [
    { what: 'read of the read-only page before', gpa: RESULTS + 0x08, value: M3 },
    { what: 'the frame under the faulting write', gpa: FRAMES + 0x3008, value: 0n },
  ]);
});

test('the same write with CR0.WP = 0 succeeds and sets the dirty flag', async () => {
  const run = await runPaging('RO_WRITE', {
    sregs: (s) => {
      s.cr0 &= ~CR0_WP;
    },
  });
  expectExit(run, OK);
  expectQwords(run, [
    { what: 'read of the read-only page', gpa: RESULTS + 0x08, value: M3 },
    { what: 'read back after the write', gpa: RESULTS + 0x10, value: W3 },
    { what: 'the frame under the write', gpa: FRAMES + 0x3008, value: W3 },
    {
      what: 'PTE[3] (read-only) after the write',
      gpa: RESULTS + 0x18,
      value: pte(3, PTE_P | PTE_A | PTE_D),
    },
  ]);
});

test('a read-modify-write of a read-only page faults as a write', async () => {
  const run = await runPaging('RO_RMW');
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_W,
    cr2: WINDOW + 0x3010n,
  });
  expectQwords(run, [{ what: 'the frame under the add', gpa: FRAMES + 0x3010, value: 0n }]);
});

test('a push onto a read-only page is #PF with P|W and leaves RSP alone', async () => {
  const run = await runPaging('RO_PUSH');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: PF_P | PF_W, cr2: WINDOW + 0x3008n });
  expectRegs(run, { rsp: WINDOW + 0x3010n }, 'after the faulting push');
});

test('a call whose return address cannot be pushed faults at the call with RSP unchanged', async () => {
  const run = await runPaging('RO_CALL');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: PF_P | PF_W, cr2: WINDOW + 0x3008n });
  expectRegs(run, { rip: rbx(run), rsp: WINDOW + 0x3010n }, 'after the faulting call');
});

test('a pop from a not-present page is #PF with error code 0 and leaves RSP alone', async () => {
  const run = await runPaging('NP_POP');
  expectFault(run, { vector: '#PF', rip: rbx(run), errorCode: 0, cr2: WINDOW + 0x2008n });
  expectRegs(run, { rsp: WINDOW + 0x2008n }, 'after the faulting pop');
});

test('R/W = 0 in a PML4E makes the pages below it read-only', async () => {
  const run = await runPaging('RO_UPPER');
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_W,
    cr2: 0x0000_0200_8060_0008n,
  });
  expectQwords(run, [
    { what: 'read through PML4[4] (PT[0])', gpa: RESULTS + 0x08, value: M0 },
    { what: 'the frame under the write', gpa: FRAMES + 0x08, value: 0n },
  ]);
});

test('XD = 1 in a PML4E forbids fetches from the pages below it', async () => {
  const run = await runPaging('NX_UPPER');
  const va = 0x0000_0180_8060_6000n;
  expectFault(run, { vector: '#PF', rip: va, errorCode: PF_P | PF_I, cr2: va });
  const stub = run.machine.vm.memory.read64(FRAMES + 0x6000);
  expectQwords(run, [{ what: 'read through PML4[3] (PT[6])', gpa: RESULTS + 0x08, value: stub }]);
});

test('a fetch from an NX page with EFER.NXE = 1 is #PF with error code P|I', async () => {
  const run = await runPaging('NX');
  assert.notEqual(run.machine.vcpu.getSregs().efer & EFER_NXE, 0n, 'EFER.NXE is set at entry');
  expectFault(run, {
    vector: '#PF',
    rip: WINDOW + 0x4000n,
    errorCode: PF_P | PF_I,
    cr2: WINDOW + 0x4000n,
  });
  expectQwords(run, [{ what: 'data read of the NX page first', gpa: RESULTS + 0x08, value: M4 }]);
});

test('with EFER.NXE = 0, bit 63 of a PTE is reserved: a read is #PF with P|RSVD', async () => {
  const run = await runPaging('NX', {
    sregs: (s) => {
      s.efer &= ~EFER_NXE;
    },
  });
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_RSVD,
    cr2: WINDOW + 0x4000n,
  });
});

/** Bits 51:MAXPHYADDR are reserved only while MAXPHYADDR < 52; the guest sets bit MAXPHYADDR. */
function checkMaxPhyAddr(run: GuestRun): void {
  const bits = run.machine.vm.memory.read64(RESULTS);
  assert.ok(
    bits >= 36n && bits < 52n,
    `CPUID 80000008H reports MAXPHYADDR ${bits}: no reserved address bit to set\n${context(run)}`,
  );
}

test('a reserved bit in a PTE makes a read #PF with error code P|RSVD', async () => {
  const run = await runPaging('RSVD_READ');
  checkMaxPhyAddr(run);
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_RSVD,
    cr2: WINDOW + 0x5008n,
  });
});

test('a reserved bit in a PTE makes a write #PF with error code P|W|RSVD', async () => {
  const run = await runPaging('RSVD_WRITE');
  checkMaxPhyAddr(run);
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_W | PF_RSVD,
    cr2: WINDOW + 0x5008n,
  });
});

test('a reserved bit in a PTE makes a fetch #PF with error code P|RSVD|I', async () => {
  const run = await runPaging('RSVD_FETCH');
  checkMaxPhyAddr(run);
  expectFault(run, {
    vector: '#PF',
    rip: WINDOW + 0x5000n,
    errorCode: PF_P | PF_RSVD | PF_I,
    cr2: WINDOW + 0x5000n,
  });
});

test('bit 13 of a 2 MiB PDE is reserved: a read is #PF with P|RSVD', async () => {
  const run = await runPaging('RSVD_LARGE');
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_RSVD,
    cr2: BIG + 0x20_0040n,
  });
});

test('PS in a PML4E is reserved: a read through it is #PF with P|RSVD', async () => {
  const run = await runPaging('RSVD_PML4_PS');
  expectFault(run, {
    vector: '#PF',
    rip: rbx(run),
    errorCode: PF_P | PF_RSVD,
    cr2: 0x0000_0100_8060_0000n,
  });
});

test('a read at a non-canonical address is #GP(0), and CR2 is left alone', async () => {
  const run = await runPaging('NC_READ');
  expectFault(run, { vector: '#GP', rip: rbx(run), errorCode: 0 });
  assert.equal(run.machine.vcpu.getSregs().cr2, 0n, `CR2 changed\n${context(run)}`);
});

test('a write at a non-canonical address is #GP(0)', async () => {
  const run = await runPaging('NC_WRITE');
  expectFault(run, { vector: '#GP', rip: rbx(run), errorCode: 0 });
});

test('a push with a non-canonical RSP is #SS(0) and leaves RSP alone', async () => {
  const run = await runPaging('NC_PUSH');
  expectFault(run, { vector: '#SS', rip: rbx(run), errorCode: 0 });
  expectRegs(run, { rsp: 0x8000_0000_0000_0000n }, 'after the faulting push');
});

test('a non-canonical access based on RBP (segment SS) is #SS(0)', async () => {
  const run = await runPaging('NC_RBP');
  expectFault(run, { vector: '#SS', rip: rbx(run), errorCode: 0 });
});

test('a jump to a non-canonical address is #GP(0) on the jump', async () => {
  const run = await runPaging('NC_JMP');
  expectFault(run, { vector: '#GP', rip: rbx(run), errorCode: 0 });
});
