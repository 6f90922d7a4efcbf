/**
 * Debian's stock kernel boots on the software engine to a busybox shell on the serial console;
 * commands typed there give the answers the host knows, /init has loaded the virtio modules,
 * process 1 supervises the shell (^C reaches commands, `exit` brings a new shell), and
 * `poweroff -f` ends the VM.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  GUEST_MODULE_FAILURE,
  GUEST_SHELL_MARKER,
  GUEST_TEST_FILE,
} from '../../src/images/initramfs.js';
import { SUPERVISOR_PATH } from '../../src/images/guest_init.js';
import { moduleNameOf } from '../../src/images/modules_dep.js';
import { debianGuest, withoutApt } from '../images/debian_guest.js';
import { bootGuest } from './guest_session.js';
import type { GuestSession } from './guest_session.js';

/** CPUID leaf 1 and 0x80000001 features the engine advertises (core/cpuid.ts). */
const ADVERTISED = ['fpu', 'tsc', 'msr', 'pae', 'cx8', 'pge', 'cmov', 'fxsr', 'sse', 'sse2'];
const ADVERTISED_EXT = ['syscall', 'nx', 'lm'];

const skip = withoutApt();

describe('Debian guest', { skip }, () => {
  let guest: GuestSession;
  let release: string;
  let modules: readonly string[];

  before(async () => {
    const image = await debianGuest();
    release = image.kernel.release;
    modules = image.initramfs.modules.map(moduleNameOf);
    guest = await bootGuest();
  });

  after(async () => {
    await guest.dispose();
  });

  test('uname -r is the packaged kernel release', async () => {
    const out = await guest.run('uname -r');
    assert.equal(out.trim(), release, guest.context());
  });

  test('the shell does arithmetic', async () => {
    const out = await guest.run('echo $((6*7))');
    assert.equal(out.trim(), '42', guest.context());
  });

  test('/proc/cpuinfo shows the advertised CPU features', async () => {
    const out = await guest.run('grep -m1 ^flags /proc/cpuinfo');
    const flags = new Set(
      out
        .replace(/^flags\s*:/, '')
        .trim()
        .split(/\s+/),
    );
    for (const f of [...ADVERTISED, ...ADVERTISED_EXT]) {
      assert.ok(flags.has(f), `flag ${f} missing from: ${out}\n${guest.context()}`);
    }
  });

  test('a file of the initramfs has the checksum the host computed', async () => {
    const out = await guest.run(`sha256sum ${GUEST_TEST_FILE.path}`);
    assert.equal(out.trim().split(/\s+/)[0], GUEST_TEST_FILE.sha256, guest.context());
  });

  test('the kernel log has no oops, BUG or panic', async () => {
    const out = await guest.run('dmesg');
    // The kernel's own markers of trouble (case matters: "This is not a bug." is fine).
    const bad = out
      .split('\n')
      .filter((line) =>
        /\bOops\b|\bBUG\b|Kernel panic|Call Trace|WARNING:|unchecked MSR/.test(line),
      );
    assert.deepEqual(bad, [], `kernel log:\n${out}`);
  });

  test('/init loaded every module of the image', async () => {
    assert.ok(!guest.output.includes(GUEST_MODULE_FAILURE), guest.context());
    const out = await guest.run('cut -d" " -f1 /proc/modules');
    assert.deepEqual(out.trim().split('\n').sort(), [...modules].sort(), guest.context());
  });

  test('process 1 is the supervisor, and the shell leads a session of its own', async () => {
    const out = await guest.run(
      'tr "\\0" " " </proc/1/cmdline; echo; echo $$ $(cut -d" " -f6 /proc/$$/stat)',
    );
    const [cmdline, ids] = out.trim().split('\n');
    assert.equal(cmdline?.trim(), `sh /${SUPERVISOR_PATH}`, guest.context());
    const [pid, session] = (ids ?? '').split(' ');
    assert.equal(session, pid, `the shell is its session's leader\n${guest.context()}`);
    // Ctrl-Alt-Del is for process 1 to handle (SIGINT), not an immediate reboot.
    const cad = await guest.run('cat /proc/sys/kernel/ctrl-alt-del');
    assert.equal(cad.trim(), '0', guest.context());
  });

  test('^C interrupts the command in the foreground', async () => {
    const from = guest.output.length;
    // The command says when it runs (in the foreground, with the terminal): ^C before that
    // would reach the shell instead.
    guest.type("sh -c 'echo sleep-started; exec sleep 1000'\n");
    await guest.waitFor(/\nsleep-started\r?\n/, from, 60_000);
    guest.type('\x03');
    // The shell takes commands again, and the sleep is gone.
    const out = await guest.run('ps | grep -c "[s]leep 1000"');
    assert.equal(out.trim(), '0', `^C ended sleep\n${guest.context()}`);
  });

  test('when the shell exits, process 1 starts another', async () => {
    const first = await guest.run('echo $$');
    const from = guest.output.length;
    guest.type('exit\n');
    await guest.waitFor(new RegExp(GUEST_SHELL_MARKER), from, 60_000);
    const second = await guest.run('echo $$');
    assert.notEqual(second.trim(), first.trim(), guest.context());
    assert.match(second.trim(), /^\d+$/, guest.context());
  });

  test('poweroff -f ends the VM: Linux without ACPI halts the CPU', async () => {
    guest.machine.sendInput(new TextEncoder().encode('poweroff -f\n'));
    const stop = await guest.done;
    assert.equal(stop.kind, 'halted', guest.context());
    assert.match(guest.output, /reboot: System halted|Power down|System halted/, guest.context());
  });
});
