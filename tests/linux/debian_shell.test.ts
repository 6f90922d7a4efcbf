/**
 * Debian's stock kernel boots on the software engine to a busybox shell on the serial console;
 * commands typed there give the answers the host knows, and `poweroff -f` ends the VM.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Machine } from '../../src/vm/machine.js';
import type { MachineStop } from '../../src/vm/machine.js';
import { GUEST_SHELL_MARKER, GUEST_TEST_FILE } from '../../src/images/initramfs.js';
import { debianGuest, withoutApt } from '../images/debian_guest.js';

/** Generous: a slow CI machine at a fraction of the engine's speed still boots well inside. */
const BOOT_TIMEOUT_MS = 15 * 60_000;
const COMMAND_TIMEOUT_MS = 120_000;
/** CPUID leaf 1 and 0x80000001 features the engine advertises (core/cpuid.ts). */
const ADVERTISED = ['fpu', 'tsc', 'msr', 'pae', 'cx8', 'pge', 'cmov', 'fxsr', 'sse', 'sse2'];
const ADVERTISED_EXT = ['syscall', 'nx', 'lm'];

/** A running guest and its console transcript. */
class Guest {
  stop: MachineStop | undefined;
  readonly machine: Machine;
  readonly done: Promise<MachineStop>;
  readonly #transcript: { text: string };

  constructor(machine: Machine, transcript: { text: string }) {
    this.machine = machine;
    this.#transcript = transcript;
    this.done = machine.runAsync().then((stop) => {
      this.stop = stop;
      return stop;
    });
  }

  /** Everything the guest wrote to its console. */
  get output(): string {
    return this.#transcript.text;
  }

  /** The console's last lines and the vCPU's state, for failure messages. */
  context(): string {
    const lines = this.output.split(/\r?\n/).slice(-50).join('\n');
    const state = this.stop === undefined ? this.machine.describeVcpu() : this.stop.kind;
    return `--- last console lines ---\n${lines}\n--- vCPU ---\n${state}`;
  }

  /** Waits until the console output after `from` matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.output.slice(from));
      if (m !== null) return m;
      if (this.stop !== undefined) {
        assert.fail(`expected ${String(pattern)}, but the VM stopped\n${this.context()}`);
      }
      if (Date.now() > deadline) {
        assert.fail(`expected ${String(pattern)} within ${timeoutMs} ms\n${this.context()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Types `command` and returns what it printed, delimited by an echoed marker. */
  async run(command: string): Promise<string> {
    const tag = `@@${Math.random().toString(36).slice(2)}@@`;
    const from = this.output.length;
    const split = `${tag.slice(0, 4)}""${tag.slice(4)}`;
    this.machine.sendInput(new TextEncoder().encode(`${command}; echo ${split}\n`));
    // The shell echoes the command with the tag split by quotes; only the output has it whole.
    const m = await this.waitFor(new RegExp(`([\\s\\S]*?)${tag}`), from, COMMAND_TIMEOUT_MS);
    const text = (m[1] ?? '').replace(/\r/g, '');
    // The output starts after the echoed command line, which holds the split tag (and may
    // follow a banner or prompt the shell printed late).
    const echoed = text.indexOf(split);
    return text.slice(text.indexOf('\n', echoed) + 1);
  }
}

const skip = withoutApt();

describe('Debian guest', { skip }, () => {
  let guest: Guest;
  let release: string;

  before(async () => {
    const image = await debianGuest();
    release = image.kernel.release;
    const transcript = { text: '' };
    const machine = await Machine.create({
      kernel: image.kernel.path,
      initrd: image.initramfs.path,
      cmdline: 'console=ttyS0 panic=-1',
      memorySize: 256 * 1024 * 1024,
      console: {
        write: (data: Uint8Array): void => {
          transcript.text += Buffer.from(data).toString('latin1');
        },
      },
    });
    guest = new Guest(machine, transcript);
    await guest.waitFor(new RegExp(GUEST_SHELL_MARKER), 0, BOOT_TIMEOUT_MS);
  });

  after(() => {
    if (guest.stop === undefined) guest.machine.stop();
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

  test('poweroff -f ends the VM: Linux without ACPI halts the CPU', async () => {
    guest.machine.sendInput(new TextEncoder().encode('poweroff -f\n'));
    const stop = await guest.done;
    assert.equal(stop.kind, 'halted', guest.context());
    assert.match(guest.output, /reboot: System halted|Power down|System halted/, guest.context());
  });
});
