/**
 * The x87/SSE state of the software engine where the differential test cannot reach: reset
 * values (SDM Vol. 3A, Table 9-1), getFpu/setFpu, the CR0.EM/TS/MP, CR4.OSFXSR and
 * CR4.OSXMMEXCPT rules (the host runs the differential snippets with SSE enabled and #XM at
 * CPL 3), at CPL 0 in long mode.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SoftHypervisor } from '../../src/engine/soft/engine.js';
import { Vector } from '../../src/engine/types.js';
import type { Fpu, IoHandler, Regs, Vcpu, VcpuExit } from '../../src/engine/types.js';
import type { GuestMemory } from '../../src/engine/memory.js';
import { setupLongMode } from '../../src/vm/x86_boot.js';

const CODE = 0x20_0000;
const DATA = 0x30_0000;
const CR0_MP = 1n << 1n;
const CR0_EM = 1n << 2n;
const CR0_TS = 1n << 3n;
const CR4_OSFXSR = 1n << 9n;
const CR4_OSXMMEXCPT = 1n << 10n;
const UD2 = [0x0f, 0x0b];

const noIo: IoHandler = {
  pioRead: () => 0xffff_ffff,
  pioWrite: () => undefined,
  mmioRead: () => 0xffff_ffff,
  mmioWrite: () => undefined,
};

async function machine(): Promise<{ vcpu: Vcpu; mem: GuestMemory; regs: Regs }> {
  const vm = await new SoftHypervisor().createVm({ memorySize: 0x40_0000 });
  const vcpu = vm.createVcpu(0, noIo);
  const { regs, sregs } = setupLongMode(vm.memory, { entry: BigInt(CODE) });
  vcpu.setSregs({ ...sregs, cr4: sregs.cr4 | CR4_OSFXSR });
  return { vcpu, mem: vm.memory, regs };
}

/** Runs `code` (then UD2) with RAX = DATA under the given CR0/CR4 changes. */
function run(
  m: { vcpu: Vcpu; mem: GuestMemory; regs: Regs },
  code: number[],
  cr: { set0?: bigint; set4?: bigint; clear4?: bigint } = {},
): VcpuExit & { kind: 'exception' } {
  m.mem.write(CODE, Uint8Array.from([...code, ...UD2]));
  const sregs = m.vcpu.getSregs();
  m.vcpu.setSregs({
    ...sregs,
    cr0: sregs.cr0 | (cr.set0 ?? 0n),
    cr4: (sregs.cr4 | CR4_OSFXSR | (cr.set4 ?? 0n)) & ~(cr.clear4 ?? 0n),
  });
  m.vcpu.setRegs({ ...m.regs, rax: BigInt(DATA), rip: BigInt(CODE) });
  const exit = m.vcpu.run(100);
  m.vcpu.setSregs(sregs);
  assert.equal(exit.kind, 'exception');
  return exit;
}

const xmm = (b: number): Uint8Array => new Uint8Array(16).fill(b);
const MOVDQA = [0x66, 0x0f, 0x6f, 0xc1]; // movdqa xmm0, xmm1
const FNINIT = [0xdb, 0xe3];
const FWAIT = [0x9b];
const EMMS = [0x0f, 0x77];
const FXSAVE64 = [0x48, 0x0f, 0xae, 0x00]; // fxsave64 [rax]
const DIVSS = [0xf3, 0x0f, 0x5e, 0xc1]; // divss xmm0, xmm1

test('x87/SSE reset state and setFpu/getFpu', async () => {
  const { vcpu } = await machine();
  const fpu = vcpu.getFpu();
  assert.equal(fpu.fcw, 0x37f);
  assert.equal(fpu.mxcsr, 0x1f80);
  assert.equal(fpu.fsw, 0);
  assert.equal(fpu.ftwx, 0);
  assert.deepEqual(fpu.xmm[15], new Uint8Array(16));
  const next: Fpu = { ...fpu, xmm: fpu.xmm.map((_, i) => xmm(i)), mxcsr: 0x9fc0, fsw: 0x3800 };
  vcpu.setFpu(next);
  assert.deepEqual(vcpu.getFpu(), next);
  assert.throws(() => {
    vcpu.setFpu({ ...next, mxcsr: 0x2_0000 });
  }, RangeError);
});

test('SSE needs CR4.OSFXSR and CR0.EM = 0 (#UD) and CR0.TS = 0 (#NM)', async () => {
  const m = await machine();
  m.vcpu.setFpu({ ...m.vcpu.getFpu(), xmm: [xmm(0), xmm(0x11)] });
  assert.equal(run(m, MOVDQA).rip, BigInt(CODE + MOVDQA.length)); // ran: stopped at UD2
  assert.deepEqual(m.vcpu.getFpu().xmm[0], xmm(0x11));
  assert.equal(run(m, MOVDQA, { clear4: CR4_OSFXSR }).vector, Vector.UD);
  assert.equal(run(m, MOVDQA, { set0: CR0_EM }).vector, Vector.UD);
  const ts = run(m, MOVDQA, { set0: CR0_TS });
  assert.equal(ts.vector, Vector.NM);
  assert.equal(ts.rip, BigInt(CODE));
});

test('x87 instructions: #NM for CR0.EM or CR0.TS; WAIT only for TS with MP; EMMS #UD for EM', async () => {
  const m = await machine();
  assert.equal(run(m, FNINIT, { set0: CR0_TS }).vector, Vector.NM);
  assert.equal(run(m, FNINIT, { set0: CR0_EM }).vector, Vector.NM);
  assert.equal(run(m, FXSAVE64, { set0: CR0_TS }).vector, Vector.NM);
  const sregs = m.vcpu.getSregs();
  const mp = (sregs.cr0 & CR0_MP) !== 0n;
  assert.equal(run(m, FWAIT, { set0: CR0_TS }).vector, mp ? Vector.NM : Vector.UD);
  assert.equal(run(m, EMMS, { set0: CR0_EM }).vector, Vector.UD);
  assert.equal(run(m, EMMS, { set0: CR0_TS }).vector, Vector.NM);
});

test('FXSAVE with CR4.OSFXSR = 0 leaves MXCSR and the XMM registers out', async () => {
  const m = await machine();
  m.vcpu.setFpu({ ...m.vcpu.getFpu(), xmm: [xmm(0x5a)] });
  m.mem.fill(DATA, 512, 0xcc);
  assert.equal(run(m, FXSAVE64, { clear4: CR4_OSFXSR }).vector, Vector.UD);
  const image = m.mem.view(DATA, 512).slice();
  assert.equal(image[0], 0x7f); // FCW
  assert.equal(image[24], 0xcc); // MXCSR not written
  assert.equal(image[160], 0xcc); // XMM0 not written
  run(m, FXSAVE64);
  const saved = m.mem.view(DATA, 512).slice();
  assert.equal(saved[24], 0x80);
  assert.equal(saved[160], 0x5a);
  assert.equal(saved[416], 0xcc); // bytes 416–511 are never written
});

test('an unmasked SIMD exception: #XM with CR4.OSXMMEXCPT, else #UD; flags set, result not', async () => {
  const m = await machine();
  const one = Uint8Array.of(0, 0, 0x80, 0x3f, ...new Array<number>(12).fill(0));
  const divide = (cr: {
    set4?: bigint;
    clear4?: bigint;
  }): { vector: number; mxcsr: number; xmm0: Uint8Array } => {
    // 1.0 / 0.0 with ZE unmasked.
    m.vcpu.setFpu({ ...m.vcpu.getFpu(), xmm: [one, xmm(0)], mxcsr: 0x1f80 & ~0x200 });
    const exit = run(m, DIVSS, cr);
    const fpu = m.vcpu.getFpu();
    return { vector: exit.vector, mxcsr: fpu.mxcsr, xmm0: fpu.xmm[0] ?? new Uint8Array() };
  };
  const xm = divide({ set4: CR4_OSXMMEXCPT });
  assert.equal(xm.vector, Vector.XM);
  assert.equal(xm.mxcsr, 0x1d84);
  assert.deepEqual(xm.xmm0, one);
  const ud = divide({ clear4: CR4_OSXMMEXCPT });
  assert.equal(ud.vector, Vector.UD);
  assert.equal(ud.mxcsr, 0x1d84);
  assert.deepEqual(ud.xmm0, one);
});
