/**
 * A Debian test guest driven through its serial console as a person would: boot to the shell
 * marker, type commands and read what they print, power off. Failures quote the console's last
 * lines and the vCPU's state. Shared by the Linux integration tests and the disk benchmark
 * (which drives QEMU's console the same way).
 */

import assert from 'node:assert/strict';
import { Machine } from '../../src/vm/machine.js';
import type { MachineConfig, MachineStop } from '../../src/vm/machine.js';
import { GUEST_SHELL_MARKER } from '../../src/images/initramfs.js';
import { debianGuest } from '../images/debian_guest.js';

/** Generous: a slow CI machine at a fraction of the engine's speed still boots well inside. */
export const BOOT_TIMEOUT_MS = 15 * 60_000;
/** How long one typed command may take by default. */
export const COMMAND_TIMEOUT_MS = 120_000;
/** The command line the tests boot the guest with. */
export const GUEST_CMDLINE = 'console=ttyS0 panic=-1';

/** What {@link bootGuest} may change in the machine; the rest is the Debian guest's. */
export type GuestBootOptions = Partial<Omit<MachineConfig, 'kernel' | 'initrd' | 'console'>>;

/**
 * A guest's serial console as a person uses it: what the guest wrote, typing, waiting for
 * output, running a command and reading what it printed. Subclasses say how the guest runs.
 */
export abstract class ConsoleSession {
  /** Everything the guest wrote to its console. */
  abstract get output(): string;
  /** Types `text` on the console as it is (no newline added). */
  abstract type(text: string): void;
  /** Why the guest stopped, or undefined while it runs. */
  abstract get stopReason(): string | undefined;
  /** The guest's processor state, for failure messages. */
  protected abstract describeCpu(): string;

  /** The console's last lines and the vCPU's state (or why it stopped), for failure messages. */
  context(): string {
    const lines = this.output.split(/\r?\n/).slice(-50).join('\n');
    const state = this.stopReason ?? this.describeCpu();
    return `--- last console lines ---\n${lines}\n--- vCPU ---\n${state}`;
  }

  /** Waits until the console output after `from` matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, from: number, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.output.slice(from));
      if (m !== null) return m;
      if (this.stopReason !== undefined) {
        assert.fail(`expected ${String(pattern)}, but the VM stopped\n${this.context()}`);
      }
      if (Date.now() > deadline) {
        assert.fail(`expected ${String(pattern)} within ${timeoutMs} ms\n${this.context()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Types `command` (a shell list, not ending in `&`) and returns what it printed, which the
   * guest frames with two tags of its own echo: the shell's echo of the typed line holds them
   * split by quotes, so only the command's output lies between whole tags, however the line
   * editor wraps or redraws the echoed line.
   */
  async run(command: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    const id = Math.random().toString(36).slice(2);
    const [start, end] = [`@@${id}start@@`, `@@${id}end@@`];
    const quoted = (tag: string): string => `${tag.slice(0, 4)}""${tag.slice(4)}`;
    const from = this.output.length;
    this.type(`echo ${quoted(start)}; ${command}; echo ${quoted(end)}\n`);
    const m = await this.waitFor(new RegExp(`${start}\\r?\\n([\\s\\S]*?)${end}`), from, timeoutMs);
    return (m[1] ?? '').replace(/\r/g, '');
  }
}

/** A guest running on the software engine, and its console transcript. */
export class GuestSession extends ConsoleSession {
  /** Why the machine stopped, once it has. */
  stop: MachineStop | undefined;
  readonly machine: Machine;
  /** Settles when the machine stops. */
  readonly done: Promise<MachineStop>;
  readonly #transcript: { text: string };

  constructor(machine: Machine, transcript: { text: string }) {
    super();
    this.machine = machine;
    this.#transcript = transcript;
    this.done = machine.runAsync().then((stop) => {
      this.stop = stop;
      return stop;
    });
  }

  get output(): string {
    return this.#transcript.text;
  }

  type(text: string): void {
    this.machine.sendInput(new TextEncoder().encode(text));
  }

  get stopReason(): string | undefined {
    const stop = this.stop;
    if (stop === undefined) return undefined;
    return 'detail' in stop ? `${stop.kind}: ${stop.detail}` : `${stop.kind} ${stop.code}`;
  }

  protected describeCpu(): string {
    return this.machine.describeVcpu();
  }

  /** Presses Ctrl-Alt-Del on the guest's PS/2 keyboard; false when the keyboard is off. */
  pressCtrlAltDel(): boolean {
    return this.machine.platform.i8042.pressCtrlAltDel();
  }

  /** Syncs, powers the guest off with `poweroff -f` and waits until the machine stops. */
  async powerOff(): Promise<MachineStop> {
    this.type('sync; poweroff -f\n');
    const stop = await this.done;
    assert.equal(stop.kind, 'halted', `poweroff -f halts the CPU\n${this.context()}`);
    return stop;
  }

  /** Stops the machine if it still runs (for `after` hooks). */
  async dispose(): Promise<void> {
    if (this.stop === undefined) this.machine.stop();
    await this.done;
  }
}

/** Boots the Debian guest with `options` and waits for the shell marker. */
export async function bootGuest(options: GuestBootOptions = {}): Promise<GuestSession> {
  const image = await debianGuest();
  const transcript = { text: '' };
  const machine = await Machine.create({
    cmdline: GUEST_CMDLINE,
    memorySize: 256 * 1024 * 1024,
    ...options,
    kernel: image.kernel.path,
    initrd: image.initramfs.path,
    console: {
      write: (data: Uint8Array): void => {
        transcript.text += Buffer.from(data).toString('latin1');
      },
    },
  });
  const guest = new GuestSession(machine, transcript);
  try {
    await guest.waitFor(new RegExp(GUEST_SHELL_MARKER), 0, BOOT_TIMEOUT_MS);
  } catch (error) {
    await guest.dispose();
    throw error;
  }
  return guest;
}
