/**
 * The decoder is keyed by code size: a guest that far-jumps from 64-bit mode into a 32-bit
 * code segment and back sees 32-bit meanings (0x40 is INC EAX, not REX), 16-bit addressing
 * under a 67 prefix, a 32-bit stack, and 32-bit register writes zero-extended (SDM Vol. 1,
 * 3.4.1.1), then 64-bit code again.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runGuest, explain } from '../helpers/run_guest.js';

test('compatibility-mode code runs with 32-bit meanings and returns to 64-bit mode', async () => {
  const run = await runGuest('modes');
  assert.equal(run.stop.kind, 'debug-exit', explain(run));
  assert.equal('code' in run.stop ? run.stop.code : -1, (0x21 << 1) | 1, explain(run));
  const regs = run.machine.vcpu.getRegs();
  const sregs = run.machine.vcpu.getSregs();
  const hex = (v: bigint): string => `0x${v.toString(16)}`;
  const expect = (name: string, got: bigint, want: bigint): void => {
    assert.equal(
      hex(got),
      hex(want),
      `${name}: expected ${hex(want)}, got ${hex(got)}\n${explain(run)}`,
    );
  };
  expect('rax (5, INC EAX by 0x40, then AL = 0x21)', regs.rax, 0x21n);
  expect('rbx', regs.rbx, 6n);
  expect('rcx (16-bit addressed load)', regs.rcx, 0x1234abcdn);
  expect('rdi (32-bit write zero-extends)', regs.rdi, 7n);
  expect(
    '32-bit stack pointer after push/pop',
    BigInt(run.machine.vm.memory.read32(0x5100)),
    0x8ff0n,
  );
  assert.equal(sregs.cs.selector, 0x08, 'CS is the 64-bit code segment again');
  assert.equal(sregs.cs.l, true, 'CS.L is set again');
});
