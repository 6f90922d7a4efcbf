/**
 * The VM process as the daemon drives it: the real child started by spawnVmProcess, tiny
 * guests from tests/guests, the console read through the pty the process reports.
 */

import assert from 'node:assert/strict';
import { closeSync, constants as fsConstants, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import { ERRNO } from '../../src/daemon/codes.js';
import type { VmConsoleSpec } from '../../src/daemon/messages.js';
import { setNonBlocking } from '../../src/sys/descriptors.js';
import { openPty, type Pty } from '../../src/sys/pty.js';
import { descriptorFlags, openClient, readUntil } from '../../src/sys/testing.js';
import { vmUser } from '../../src/vm/privileges.js';
import { GUEST_FAULT, VM_FIRST_INHERITED_FD } from '../../src/vm/vm_process.js';
import { assembleGuest, buildGuest, REPO_ROOT } from '../guests/build_guest.js';
import { testSpec, VmUnderTest } from './vm_harness.js';

const started: VmUnderTest[] = [];

/** A VM process for this test, disposed of after it. */
function startProcess(): VmUnderTest {
  const vm = new VmUnderTest();
  started.push(vm);
  return vm;
}

afterEach(async () => {
  for (const vm of started.splice(0)) await vm.dispose();
});

function resetGuest(method: 'I8042' | 'CF9' | 'TRIPLE'): Promise<string> {
  return assembleGuest(join(REPO_ROOT, 'tests/guests/reset.asm'), { METHOD: method });
}

/** The TSC values of the complete `tick` lines in `text`. */
function ticks(text: string): bigint[] {
  return Array.from(text.matchAll(/tick ([0-9a-f]{16})\n/g), (m) => BigInt(`0x${m[1] ?? ''}`));
}

test('a guest runs: start-vm-response names the pid and the pty, which carries its output', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker') }) });
  const { message } = await vm.expect('start-vm-response');
  assert.equal(message.result, 0, vm.context());
  assert.equal(message.vmId, 1);
  assert.equal(message.pid, vm.child.pid, 'expected the VM process itself');
  assert.match(message.tty ?? '', /^\/dev\/pts\/\d+$/);
  vm.attach(message.tty ?? '');
  await vm.waitForOutput(/(tick [0-9a-f]{16}\n){3}/);
  // Started by root, it runs as nobody (vmd's _vmd); started by anyone else, as them.
  const status = readFileSync(`/proc/${vm.child.pid ?? 0}/status`, 'utf8');
  const ids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(status)?.slice(1).map(Number);
  const root = process.getuid?.() === 0;
  const expected = root ? vmUser().uid : process.getuid?.();
  assert.deepEqual(ids, [expected, expected, expected, expected], `the VM process's uids`);
  if (root) assert.match(status, /^Groups:\s*$/m, 'expected no supplementary groups');
});

test('pause-vm parks the guest with its clock stopped; unpause-vm lets it go on', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker') }) });
  const { message: start } = await vm.expect('start-vm-response');
  vm.attach(start.tty ?? '');
  await vm.waitForOutput(/(tick [0-9a-f]{16}\n){3}/);

  vm.send({ type: 'pause-vm', vm: { id: 1 }, uid: null }, 7);
  const paused = await vm.expect('pause-vm-response');
  const pausedAt = performance.now();
  assert.equal(paused.id, 7, 'expected the answer in the request frame id');
  assert.deepEqual(paused.message, {
    type: 'pause-vm-response',
    result: 0,
    vmId: 1,
    pid: vm.child.pid,
    tty: start.tty,
  });
  // Output the guest wrote before it parked may still be on its way through the pty.
  await sleep(300);
  vm.readConsole();
  const before = vm.output;
  await sleep(1000);
  vm.readConsole();
  assert.equal(
    vm.output.length,
    before.length,
    `expected no output while paused, got ${JSON.stringify(vm.output.slice(before.length))}`,
  );
  vm.send({ type: 'pause-vm', vm: { id: 1 }, uid: null }, 8);
  assert.equal(
    (await vm.expect('pause-vm-response')).message.result,
    0,
    'vmd answers 0 when already paused',
  );

  vm.send({ type: 'unpause-vm', vm: { id: 1 }, uid: null }, 9);
  const unpaused = await vm.expect('unpause-vm-response');
  const pausedMs = performance.now() - pausedAt;
  assert.equal(unpaused.id, 9);
  assert.equal(unpaused.message.result, 0);
  await vm.waitForOutput(/(tick [0-9a-f]{16}\n){2}/, before.length);
  const last = ticks(before).at(-1) ?? 0n;
  const next = ticks(vm.output.slice(before.length))[0] ?? 0n;
  // One tick is 20 ms of guest time; the pause took over a second of host time.
  const guestNs = Number(next - last);
  assert.ok(
    guestNs > 0 && guestNs < (pausedMs * 1e6) / 2,
    `expected the guest's clock to stand still while paused: ${guestNs / 1e6} ms of guest time ` +
      `between the ticks around a pause of ${pausedMs.toFixed(0)} ms`,
  );
});

test('a guest that halts and waits keeps running, and pauses at once', async () => {
  const vm = startProcess();
  // idle: a line on COM1, then HLT with interrupts enabled and every IRQ masked, for good.
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('idle') }) });
  const { message: start } = await vm.expect('start-vm-response');
  assert.equal(start.result, 0, vm.context());
  vm.attach(start.tty ?? '');
  await vm.waitForOutput(/idle guest ready\n/);
  // Long enough for the vCPU thread to be asleep in the halt, with nothing else to do.
  await sleep(500);
  vm.send({ type: 'pause-vm', vm: { id: 1 }, uid: null });
  assert.equal((await vm.expect('pause-vm-response')).message.result, 0, vm.context());
  vm.send({ type: 'unpause-vm', vm: { id: 1 }, uid: null });
  assert.equal((await vm.expect('unpause-vm-response')).message.result, 0, vm.context());
  assert.equal(vm.child.exitCode, null, `expected the VM still running\n${vm.context()}`);
});

test('vm-shutdown stops at once a guest with no keyboard driver; verbose sets the log level', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker'), vmId: 3 }) });
  const { message: start } = await vm.expect('start-vm-response');
  assert.equal(start.result, 0, vm.context());
  vm.send({ type: 'verbose', level: 1 });
  vm.send({ type: 'vm-shutdown' });
  const { message } = await vm.expect('terminate-vm-event');
  assert.deepEqual(message, {
    type: 'terminate-vm-event',
    result: 0,
    vmId: 3,
    pid: vm.child.pid,
    tty: start.tty,
  });
  assert.deepEqual(await vm.exit(), { code: 0, signal: null }, vm.context());
  assert.match(
    vm.log,
    /^vm\/test1: .*no keyboard driver/m,
    'expected the log line, prefixed by the VM',
  );
  assert.match(vm.log, /^vm\/test1: shutdown requested$/m, 'expected a line of `verbose 1`');
});

test('vm-shutdown resumes a paused guest so that it can stop', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker'), vmId: 4 }) });
  assert.equal((await vm.expect('start-vm-response')).message.result, 0, vm.context());
  vm.send({ type: 'pause-vm', vm: { id: 4 }, uid: null });
  assert.equal((await vm.expect('pause-vm-response')).message.result, 0, vm.context());
  vm.send({ type: 'vm-shutdown' });
  const { message } = await vm.expect('terminate-vm-event');
  assert.equal(message.result, 0, `expected a clean stop\n${vm.context()}`);
  assert.deepEqual(await vm.exit(), { code: 0, signal: null }, vm.context());
});

for (const [method, why] of [
  ['TRIPLE', /triple fault/i],
  ['I8042', /i8042 reset pulse/],
  ['CF9', /reset control register/],
] as const) {
  test(`a guest reset (${method}) is a reboot: vm-reboot, then terminate-vm-event EAGAIN`, async () => {
    const vm = startProcess();
    vm.send({ type: 'vm-create', spec: testSpec({ boot: await resetGuest(method) }) });
    const { message: start } = await vm.expect('start-vm-response');
    assert.equal(start.result, 0, vm.context());
    await vm.expect('vm-reboot');
    const { message } = await vm.expect('terminate-vm-event');
    assert.equal(message.result, ERRNO.EAGAIN, vm.context());
    assert.deepEqual(await vm.exit(), { code: ERRNO.EAGAIN, signal: null }, vm.context());
    assert.match(vm.log, why, 'expected the log to say how the guest reset');
  });
}

test('a guest fault the machine cannot deliver ends the VM with EFAULT, without a reboot', async () => {
  const vm = startProcess();
  // badop executes an invalid opcode with no IDT loaded.
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('badop') }) });
  assert.equal((await vm.expect('start-vm-response')).message.result, 0, vm.context());
  const { message } = await vm.expect('terminate-vm-event');
  assert.equal(message.result, GUEST_FAULT, vm.context());
  assert.deepEqual(await vm.exit(), { code: GUEST_FAULT, signal: null });
  assert.match(vm.log, /guest stopped on a fault: .*#UD/, vm.context());
});

test('a missing kernel fails the start with ENOENT, and the process exits cleanly', async () => {
  const vm = startProcess();
  const dir = await mkdtemp(join(tmpdir(), 'vm-process-'));
  try {
    const boot = join(dir, 'no-such-kernel');
    vm.send({ type: 'vm-create', spec: testSpec({ boot }) });
    const { message } = await vm.expect('start-vm-response');
    assert.deepEqual(message, {
      type: 'start-vm-response',
      result: ERRNO.ENOENT,
      vmId: 1,
      pid: vm.child.pid,
      tty: null,
    });
    assert.deepEqual(await vm.exit(), { code: ERRNO.ENOENT, signal: null });
    assert.ok(vm.log.includes(`can't open kernel or BIOS boot image ${boot}`), vm.context());
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('a kernel that is no kernel and two vCPUs fail the start with EINVAL', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vm-process-'));
  try {
    const text = join(dir, 'not-a-kernel');
    await writeFile(text, 'this is not an ELF executable\n');
    for (const spec of [
      testSpec({ boot: text }),
      testSpec({ boot: await buildGuest('ticker'), vcpus: 2 }),
    ]) {
      const vm = startProcess();
      vm.send({ type: 'vm-create', spec });
      const { message } = await vm.expect('start-vm-response');
      assert.equal(message.result, ERRNO.EINVAL, vm.context());
      assert.equal(message.tty, null);
      assert.deepEqual(await vm.exit(), { code: ERRNO.EINVAL, signal: null }, vm.context());
    }
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('the process stops its guest and exits when the parent closes the channel', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker') }) });
  assert.equal((await vm.expect('start-vm-response')).message.result, 0, vm.context());
  vm.peer.close();
  assert.deepEqual(await vm.exit(), { code: 0, signal: null }, vm.context());
  assert.match(vm.log, /parent went away/);
});

test('the process reports the guest memory it has resident: some, far from all of it', async () => {
  const vm = startProcess();
  vm.send({ type: 'vm-create', spec: testSpec({ boot: await buildGuest('ticker') }) });
  assert.equal((await vm.expect('start-vm-response')).message.result, 0, vm.context());
  // The first report follows the start at once: the loader has written the kernel by then.
  const { message } = await vm.expect('vm-memory');
  // The ticker's code, data and boot page tables: a few pages of its 64 MiB. A figure from
  // the process's RSS, or from RAM allocated rather than touched, would be far larger.
  assert.ok(
    message.bytes > 0 && message.bytes <= 1024 * 1024,
    `expected a tiny guest to have some of its RAM resident, at most 1 MiB, got ${message.bytes}`,
  );
});

/** A pty as the vmd parent holds one for a VM, and a client attached to it. */
interface HeldPty {
  pty: Pty;
  client: number;
  /** The spec's console: the ends as the VM process's descriptors 4 and 5. */
  console: VmConsoleSpec;
}

async function withHeldPty(body: (held: HeldPty) => Promise<void>): Promise<void> {
  const pty = openPty();
  const client = openClient(pty.path);
  const console = {
    master: VM_FIRST_INHERITED_FD,
    slave: VM_FIRST_INHERITED_FD + 1,
    path: pty.path,
  };
  try {
    await body({ pty, client, console });
  } finally {
    for (const fd of [client, pty.master, pty.slave]) closeSync(fd);
  }
}

test('a console handed down by the parent outlives the process: the next one carries on', async () => {
  await withHeldPty(async ({ pty, client, console }) => {
    // Whatever the parent left, the VM process must never block on the master.
    setNonBlocking(pty.master, false);
    // The first process resets its guest, as a guest that reboots: its process ends.
    const first = new VmUnderTest([pty.master, pty.slave]);
    started.push(first);
    first.send({
      type: 'vm-create',
      spec: testSpec({ boot: await resetGuest('TRIPLE'), console }),
    });
    const { message: start } = await first.expect('start-vm-response');
    assert.equal(start.result, 0, first.context());
    assert.equal(start.tty, pty.path, 'expected the console it was given');
    assert.ok(
      descriptorFlags(pty.master) & fsConstants.O_NONBLOCK,
      'the master is non-blocking, for the VM process and the parent alike',
    );
    assert.equal((await first.exit()).code, ERRNO.EAGAIN, first.context());
    const before = await readUntil(client, (r) => r.includes('resetting\n'), 'the first boot');

    // The client stays attached, with nothing read or hung up, while the next one starts.
    const second = new VmUnderTest([pty.master, pty.slave]);
    started.push(second);
    second.send({
      type: 'vm-create',
      spec: testSpec({ boot: await buildGuest('console_echo'), console }),
    });
    assert.equal((await second.expect('start-vm-response')).message.tty, pty.path);
    await readUntil(client, (r) => r.includes('echo guest ready\n'), 'the next boot');
    writeSync(client, 'once');
    const echoed = await readUntil(client, (r) => r.includes('once'), 'the echo');
    assert.equal(echoed.toString(), 'once', 'typed input reaches the new process, once');
    assert.equal(before.toString(), 'resetting\n');
  });
});

test('a console that is not the pty the spec names fails the start, and the process exits', async () => {
  await withHeldPty(async ({ pty, console }) => {
    const other = openPty();
    const devNull = openSync('/dev/null', 'r');
    try {
      for (const [inherit, code, why] of [
        [
          [other.master, other.slave],
          ERRNO.EINVAL,
          `is the master of ${other.path}, not of ${pty.path}`,
        ],
        [[devNull, pty.slave], constants.errno.ENOTTY, 'ENOTTY'],
      ] as const) {
        const vm = new VmUnderTest(inherit);
        started.push(vm);
        vm.send({
          type: 'vm-create',
          spec: testSpec({ boot: await buildGuest('ticker'), console }),
        });
        const { message } = await vm.expect('start-vm-response');
        assert.equal(message.result, code, vm.context());
        assert.equal(message.tty, null);
        assert.deepEqual(await vm.exit(), { code, signal: null }, vm.context());
        assert.ok(vm.log.includes(`can't use the console ${pty.path}: `), vm.context());
        assert.ok(vm.log.includes(why), vm.context());
      }
    } finally {
      for (const fd of [other.master, other.slave, devNull]) closeSync(fd);
    }
  });
});
