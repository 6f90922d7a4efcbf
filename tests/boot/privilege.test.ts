/**
 * Privilege changes, checked against the Intel SDM Vol. 3A (chapters 4, 5 and 6) and the SDM
 * Vol. 2 pages of IRET, INT n, SYSCALL, SYSRET and SWAPGS: tests/guests/privilege.asm enters
 * CPL 3 with IRETQ, on user pages of its own paging structures, and comes back through interrupt
 * gates, exceptions and SYSCALL. Expected values are worked out by hand from the SDM and the
 * guest's code (tests/guests/system.mac), not taken from the engine.
 *
 * Every event from CPL 3 switches to the stack in TSS.RSP0 (or an IST): the processor pushes
 * the user SS and RSP, and loads SS with a null selector whose RPL is the new CPL, 0 (6.14.4).
 */

import { test } from 'node:test';
import type { GuestRun } from '../helpers/run_guest.js';
import { hex } from './guest_case.js';
import {
  CF,
  FIXED,
  FL_TEST,
  IF,
  OF,
  PF,
  PF_I,
  PF_P,
  PF_U,
  PF_W,
  SF,
  DF,
  ZF,
  Sel,
  Sys,
  events,
  describeRun,
  expectDone,
  expectEvents,
  expectValues,
  runSystemCase,
  slot,
  uslot,
} from './system_case.js';
import type { ExpectedEvent } from './system_case.js';

const { STACK_TOP, RSP0_TOP, IST1_TOP, USTACK_TOP, UDATA, SRO, URO, HOLE, FRAME_A, FRAME_B } = Sys;
const B = BigInt;
const UCS = Sel.UCODE | 3;
const USS = Sel.UDATA | 3;

const run = (name: string, prepare?: (r: GuestRun['machine']) => void): Promise<GuestRun> =>
  runSystemCase('privilege', name, prepare === undefined ? {} : { prepare });

/**
 * An event from CPL 3 code with RFLAGS `rflags` (null: not checked) at RSP = USTACK_TOP,
 * delivered on RSP0.
 */
const fromUser = (
  vector: number,
  errorCode: number | undefined,
  rflags: bigint | null = FIXED | IF,
): ExpectedEvent => ({
  vector,
  errorCode,
  cs: UCS,
  ...(rflags === null ? {} : { rflags }),
  rsp: B(USTACK_TOP),
  ss: USS,
  frame: B(RSP0_TOP - 40),
  handlerIf: false,
  handlerCs: Sel.KCODE,
  handlerSs: 0,
});

test('IRETQ to CPL 3 loads the user CS, SS, RSP and RFLAGS and nulls DS, ES, FS, GS', async () => {
  // SDM Vol. 2, IRET (return to outer privilege level): a data segment whose DPL is below the
  // new CPL is loaded with a null selector.
  const r = await run('U_ENTER', (m) => {
    m.vm.memory.write64(UDATA + 0x800, 0x0d5_0d5_0d5n);
  });
  expectDone(r);
  expectEvents(r, []);
  expectValues(r, [
    { what: 'RSP at CPL 3', got: uslot(r, 0), value: B(USTACK_TOP) },
    { what: 'RFLAGS at CPL 3', got: uslot(r, 1), value: FIXED | IF },
    { what: 'CS at CPL 3', got: uslot(r, 2), value: B(UCS) },
    { what: 'SS at CPL 3', got: uslot(r, 3), value: B(USS) },
    { what: 'DS at CPL 3', got: uslot(r, 4), value: 0n },
    { what: 'ES at CPL 3', got: uslot(r, 5), value: 0n },
    { what: 'FS at CPL 3', got: uslot(r, 6), value: 0n },
    { what: 'GS at CPL 3', got: uslot(r, 7), value: 0n },
    { what: 'a read through the null DS', got: uslot(r, 8), value: 0x0d5_0d5_0d5n },
  ]);
});

test('at CPL 3, supervisor, read-only and not-present pages fault with U set', async () => {
  // SDM Vol. 3A, 4.6 (access rights) and 4.7 (error code): P for a protection violation, W/R
  // for a write, U/S for a user-mode access, I/D for a fetch (NXE = 1).
  const marker = 0x7265_6164_6f6e_6c79n;
  const r = await run('U_PF', (m) => {
    m.vm.memory.write64(URO, marker);
  });
  expectDone(r);
  const kernelOnly = slot(r, 0);
  expectEvents(r, [
    { ...fromUser(14, PF_P | PF_U), rip: uslot(r, 0), cr2: B(SRO) },
    { ...fromUser(14, PF_P | PF_W | PF_U), rip: uslot(r, 1), cr2: B(URO + 8) },
    { ...fromUser(14, PF_U), rip: uslot(r, 2), cr2: B(HOLE + 0x10) },
    { ...fromUser(14, PF_P | PF_U | PF_I), rip: kernelOnly, cr2: kernelOnly },
  ]);
  expectValues(r, [
    { what: 'a CPL 3 read of the read-only user page', got: uslot(r, 3), value: marker },
  ]);
});

test('privileged instructions and I/O at CPL 3 are #GP(0); IRETQ to CPL 0 is #GP(CS)', async () => {
  const r = await run('U_PRIV');
  expectDone(r);
  const names = [
    'HLT',
    'CLI',
    'STI',
    'RDMSR',
    'WRMSR',
    'SWAPGS',
    'MOV from CR0',
    'MOV to CR3',
    'LGDT',
    'LIDT',
    'INVLPG',
    'OUT',
    'IN',
    'WBINVD',
    'CLTS',
    'MOV from DR7',
    'MOV to DR7',
    'LMSW',
    'LTR',
    'SYSRET',
  ];
  expectEvents(r, [
    ...names.map((_, k) => ({ ...fromUser(13, 0, FIXED), rip: uslot(r, k) })),
    // SDM Vol. 2, IRET: "IF return code segment selector RPL < CPL THEN #GP(selector)"; the
    // five pushes of the frame stay on the user stack.
    { ...fromUser(13, Sel.KCODE, FIXED), rip: uslot(r, 20), rsp: B(USTACK_TOP - 40) },
  ]);
  // Without CR4.UMIP, SGDT, SIDT, STR and SMSW work at CPL 3 (SDM Vol. 3A, 2.8).
  const mem = r.machine.vm.memory;
  expectValues(r, [
    { what: 'SGDT limit', got: B(mem.read16(UDATA + 0x200)), value: 0x4fn },
    { what: 'SGDT base', got: mem.read64(UDATA + 0x202), value: B(Sys.GDT) },
    { what: 'SIDT limit', got: B(mem.read16(UDATA + 0x210)), value: 0xfffn },
    { what: 'SIDT base', got: mem.read64(UDATA + 0x212), value: B(Sys.IDT) },
    { what: 'STR', got: uslot(r, 0x48), value: B(Sel.TSS) },
    { what: 'SMSW (low 16 bits)', got: uslot(r, 0x49) & 0xffffn, value: 0x33n },
  ]);
});

test('INT n from CPL 3: RSP0 or IST1, the user SS:RSP in the frame, DPL 0 gates #GP', async () => {
  // SDM Vol. 3A, 6.12.1.1: INT n, INT3 and INTO check the gate's DPL against CPL: #GP with
  // error code vector * 8 + 2 (IDT).
  const r = await run('U_INT');
  expectDone(r);
  expectEvents(r, [
    { ...fromUser(0x80, undefined), rip: uslot(r, 0) },
    { ...fromUser(13, 0x81 * 8 + 2), rip: uslot(r, 1) },
    { ...fromUser(13, 3 * 8 + 2), rip: uslot(r, 2) },
    { ...fromUser(0x83, undefined), rip: uslot(r, 3), frame: B(IST1_TOP - 40) },
    { ...fromUser(0x84, undefined), rip: uslot(r, 4), handlerIf: true },
  ]);
  expectValues(r, [
    { what: 'CS after the IRETQs', got: uslot(r, 5), value: B(UCS) },
    { what: 'SS after the IRETQs', got: uslot(r, 6), value: B(USS) },
    { what: 'RSP after the IRETQs', got: uslot(r, 7), value: B(USTACK_TOP) },
  ]);
});

test('with IOPL 3 from IRETQ, CLI and OUT work at CPL 3; POPFQ there keeps IOPL', async () => {
  // SDM Vol. 2, IRET (IOPL is loaded at CPL 0), CLI (CPL <= IOPL), POPF (IOPL changes only
  // at CPL 0; IF when CPL <= IOPL).
  const iopl3 = 3n << 12n;
  const r = await run('U_IOPL');
  expectDone(r);
  expectEvents(r, []);
  expectValues(r, [
    { what: 'RFLAGS at CPL 3', got: uslot(r, 0), value: FIXED | IF | iopl3 },
    { what: 'RFLAGS after CLI', got: uslot(r, 1), value: FIXED | iopl3 },
    { what: 'RFLAGS after POPFQ of IF, IOPL 0', got: uslot(r, 2), value: FIXED | IF | iopl3 },
  ]);
});

test('IRETQ and POPFQ at CPL 3 with IOPL 0 leave IF and IOPL alone', async () => {
  // SDM Vol. 2, IRET and POPF: IF changes only if CPL <= IOPL, IOPL only at CPL 0.
  const r = await run('U_IRET');
  expectDone(r);
  expectEvents(r, []);
  expectValues(r, [
    { what: 'RSP after IRETQ', got: uslot(r, 0), value: B(USTACK_TOP - 0x100) },
    { what: 'RFLAGS after IRETQ of CF, IOPL 3, IF 0', got: uslot(r, 1), value: FIXED | CF | IF },
    { what: 'RFLAGS after POPFQ of ZF, IOPL 3, IF 0', got: uslot(r, 2), value: FIXED | ZF | IF },
  ]);
});

test('segment loads at CPL 3 check type and privilege: #GP(selector)', async () => {
  const r = await run('U_SEGS');
  expectDone(r);
  const gp = (code: number, k: number): ExpectedEvent => ({
    ...fromUser(13, code),
    rip: uslot(r, k),
  });
  expectEvents(r, [
    gp(Sel.KDATA, 0),
    gp(Sel.KDATA, 2),
    gp(0, 3),
    gp(Sel.TSS, 5),
    gp(0x100, 6),
    gp(Sel.UCODE, 7),
    gp(Sel.UDATA, 8),
  ]);
  expectValues(r, [
    { what: 'DS after loading the DPL 3 data segment', got: uslot(r, 1), value: B(USS) },
    { what: 'ES after loading readable DPL 3 code', got: uslot(r, 4), value: B(UCS) },
    { what: 'VERR of DPL 0 data at CPL 3', got: uslot(r, 9), value: 0n },
    { what: 'VERW of DPL 3 data at CPL 3', got: uslot(r, 10), value: 1n },
    { what: 'VERR of DPL 3 execute/read code', got: uslot(r, 11), value: 1n },
  ]);
});

test('a timer interrupt at CPL 3 is delivered on RSP0 with the user frame', async () => {
  const r = await runSystemCase('privilege', 'U_TIMER', { instructionLimit: 500_000_000 });
  expectDone(r);
  const [loop, end] = [slot(r, 0), slot(r, 1)];
  // The saved RFLAGS depend on where in the loop the tick came: checked below for IF only.
  const tick: ExpectedEvent = { ...fromUser(0x20, undefined, null), rf: false };
  expectEvents(r, [tick, tick, tick, tick, tick]);
  const outside = events(r).filter((e) => e.rip < loop || e.rip >= end || (e.rflags & IF) === 0n);
  if (outside.length > 0) {
    throw new Error(
      `a tick was saved outside the user loop [${hex(loop)}, ${hex(end)}) or with IF = 0\n` +
        describeRun(r),
    );
  }
});

test('IRETQ to CPL 3 with an SS CPL 3 may not use is #GP(SS) and changes nothing', async () => {
  const r = await run('IRET_BADSS');
  expectDone(r);
  // The five pushes of the IRETQ frame stay; the #GP frame goes below them, aligned.
  const rsp = STACK_TOP - 40;
  expectEvents(r, [
    {
      vector: 13,
      errorCode: Sel.KDATA,
      rip: slot(r, 0),
      cs: Sel.KCODE,
      rflags: FL_TEST,
      rsp: B(rsp),
      ss: Sel.KDATA,
      frame: B((rsp & ~15) - 40),
      handlerCs: Sel.KCODE,
      handlerSs: Sel.KDATA,
    },
  ]);
  expectValues(r, [
    { what: 'CS after the #GP handler', got: slot(r, 1), value: B(Sel.KCODE) },
    { what: 'RSP after the #GP handler', got: slot(r, 2), value: B(rsp) },
  ]);
});

test('SYSCALL loads CS with STAR[47:32] & 0xfffc and SS with STAR[47:32] + 8', async () => {
  const r = await run('SYSCALL_RPL');
  expectDone(r);
  expectValues(r, [
    { what: 'CS after SYSCALL with STAR[47:32] = 0x13', got: slot(r, 0), value: 0x10n },
    { what: 'SS after SYSCALL with STAR[47:32] = 0x13', got: slot(r, 1), value: 0x1bn },
  ]);
});

test('SYSCALL enters LSTAR at CPL 0; SYSRETQ returns to CPL 3 with the STAR selectors', async () => {
  // SDM Vol. 2, SYSCALL: RCX = the next RIP, R11 = RFLAGS, RFLAGS &= ~IA32_FMASK, CS =
  // STAR[47:32], SS = STAR[47:32] + 8, RSP unchanged. SYSRET (64-bit): RFLAGS = (R11 &
  // 3C7FD7H) | 2, CS = (STAR[63:48] + 16) | 3, SS = (STAR[63:48] + 8) | 3.
  const userFlags = FIXED | CF | PF | ZF | SF | IF | DF;
  const sfmask = (1n << 8n) | IF | DF | (1n << 14n) | (1n << 18n);
  const r11 = 0x30000n | FIXED | CF | ZF | SF | IF | OF;
  const r = await run('SYSCALL');
  expectDone(r);
  const back = slot(r, 0);
  expectValues(r, [
    { what: 'RCX at LSTAR', got: slot(r, 1), value: back },
    { what: 'R11 at LSTAR', got: slot(r, 2), value: userFlags },
    { what: 'RSP at LSTAR', got: slot(r, 3), value: B(USTACK_TOP) },
    { what: 'CS at LSTAR', got: slot(r, 4), value: B(Sel.KCODE) },
    { what: 'SS at LSTAR', got: slot(r, 5), value: B(Sel.KDATA) },
    { what: 'RFLAGS at LSTAR', got: slot(r, 6), value: userFlags & ~sfmask },
    { what: 'RFLAGS after SYSRETQ', got: uslot(r, 0), value: (r11 & 0x3c_7fd7n) | 2n },
    { what: 'CS after SYSRETQ', got: uslot(r, 1), value: B(UCS) },
    { what: 'SS after SYSRETQ', got: uslot(r, 2), value: B(USS) },
    { what: 'RCX after SYSRETQ', got: uslot(r, 3), value: back },
    { what: 'RSP after SYSRETQ', got: uslot(r, 4), value: B(USTACK_TOP) },
  ]);
  // Back at CPL 3: HLT faults.
  expectEvents(r, [{ ...fromUser(13, 0, (r11 & 0x3c_7fd7n) | 2n), rip: uslot(r, 5) }]);
});

test('SYSCALL with EFER.SCE = 0 is #UD', async () => {
  const r = await run('SCE_OFF');
  expectDone(r);
  expectEvents(r, [
    {
      vector: 6,
      errorCode: undefined,
      rip: slot(r, 0),
      cs: Sel.KCODE,
      rflags: FL_TEST,
      rsp: B(STACK_TOP),
      ss: Sel.KDATA,
    },
  ]);
});

test('SYSRETQ to a non-canonical RCX is #GP(0) at CPL 0', async () => {
  const r = await run('SYSRET_NC');
  expectDone(r);
  expectEvents(r, [
    {
      vector: 13,
      errorCode: 0,
      rip: slot(r, 0),
      cs: Sel.KCODE,
      rflags: FL_TEST,
      rsp: B(STACK_TOP),
      ss: Sel.KDATA,
    },
  ]);
});

test('SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE', async () => {
  const r = await run('SWAPGS');
  expectDone(r);
  expectValues(r, [
    { what: '[GS:0] with GS.base = FRAME_A', got: slot(r, 0), value: 0x1111_2222_3333_4444n },
    { what: 'IA32_GS_BASE after SWAPGS', got: slot(r, 1), value: B(FRAME_B) },
    { what: 'IA32_KERNEL_GS_BASE after SWAPGS', got: slot(r, 2), value: B(FRAME_A) },
    { what: '[GS:0] after SWAPGS', got: slot(r, 3), value: 0x5555_6666_7777_8888n },
    { what: 'IA32_GS_BASE after a second SWAPGS', got: slot(r, 4), value: B(FRAME_A) },
    { what: 'IA32_KERNEL_GS_BASE after it', got: slot(r, 5), value: B(FRAME_B) },
    { what: '[FS:8] with IA32_FS_BASE = FRAME_B', got: slot(r, 6), value: 0x9999_aaaa_bbbb_ccccn },
    { what: 'IA32_GS_BASE after MOV GS', got: slot(r, 7), value: 0n },
    { what: 'IA32_KERNEL_GS_BASE after MOV GS', got: slot(r, 8), value: B(FRAME_B) },
  ]);
});
