import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain, runGuest } from '../helpers/run_guest.js';
import type { GuestRun } from '../helpers/run_guest.js';

/** The stop's detail text, or '' for a debug exit. */
function detail(run: GuestRun): string {
  return 'detail' in run.stop ? run.stop.detail : '';
}

test('the hello guest prints its line through the UART and exits with its debug-exit code', async () => {
  const run = await runGuest('hello');
  assert.equal(run.console, 'Hello from the guest\n', explain(run));
  assert.deepEqual(run.stop, { kind: 'debug-exit', code: (0x2a << 1) | 1 }, explain(run));
  assert.ok(run.machine.vcpu.instructionCount > 100, 'the guest ran its print loop');
});

test('a guest that runs off into memory past RAM stops with #UD at that address and its bytes', async () => {
  const run = await runGuest('runaway');
  assert.equal(run.stop.kind, 'fault', explain(run));
  assert.match(detail(run), /^guest exception #UD at rip 0x40000000, bytes ff ff\n/, explain(run));
});

test('a guest that jumps to an unmapped address stops with an instruction-fetch #PF', async () => {
  const run = await runGuest('unmapped');
  assert.equal(run.stop.kind, 'fault', explain(run));
  // Error code 0x10: not present (P = 0), read, supervisor, instruction fetch (I/D = 1).
  assert.match(
    detail(run),
    /^guest exception #PF at rip 0x200000000, error code 0x10, cr2 0x200000000, code not mapped/,
    explain(run),
  );
});

test('an unknown opcode stops the VM with #UD, the address and the bytes', async () => {
  const run = await runGuest('badop');
  assert.equal(run.console, '!', explain(run));
  assert.equal(run.stop.kind, 'fault', explain(run));
  const text = detail(run);
  assert.match(text, /^guest exception #UD at rip 0x[0-9a-f]+, bytes 06 f4/, explain(run));
  assert.match(text, /rip=0000000000101/, 'the register dump shows the faulting rip');
});

test('port writes nobody claims are dropped and counted; reads see the floating bus', async () => {
  const run = await runGuest('ports');
  assert.equal(run.console, 'ff\n', explain(run));
  assert.deepEqual(run.stop, { kind: 'debug-exit', code: 33 }, explain(run));
  const counts = run.machine.bus.unclaimed;
  assert.equal(counts.pioWrites, 2, 'out 0xe9 and out 0x1234 were unclaimed');
  assert.equal(counts.pioReads, 1, 'in 0x1234 was unclaimed');
});

test('a guest that never stops is stopped at the instruction limit with its vCPU state', async () => {
  const run = await runGuest('hello', { instructionLimit: 50 });
  assert.equal(run.stop.kind, 'limit', explain(run));
  assert.match(detail(run), /stopped after 50 instructions\n\s*rax=/);
});
