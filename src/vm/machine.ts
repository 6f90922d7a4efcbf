/**
 * A virtual machine as the VM process sees it: guest memory, one vCPU, the PC platform's
 * chips (pc.ts) on an I/O bus, and a kernel loaded and entered. `run()` drives the vCPU until
 * the guest stops; between run slices the machine advances the timers, hands the 8259's
 * interrupts to the vCPU when it can take them, and sleeps while the guest halts.
 *
 * Kernels are ELF executables or, on request, flat 64-bit images, entered in long mode as the
 * Linux 64-bit boot protocol enters a kernel; Linux itself (a bzImage, or a vmlinux given a
 * command line or an initrd) is loaded with its boot parameters (linux.ts).
 */

import { readFile } from 'node:fs/promises';
import { SoftHypervisor } from '../engine/soft/engine.js';
import type { Hypervisor, Vcpu, Vm, VcpuExit } from '../engine/types.js';
import type { IoBus } from '../devices/bus.js';
import type { VirtualClock } from '../devices/clock.js';
import type { Ns8250 } from '../devices/ns8250.js';
import type { CharBackend } from '../devices/types.js';
import type { DiskImage } from '../block/image.js';
import { heldFileOpener, openPath, type HeldFile } from '../block/image_file.js';
import { closeDisks, DiskOpenError, openDisks, type DiskSpec } from './disks.js';
import { KernelLoadError, loadKernelFile, readImageFile } from './elf.js';
import type { KernelImage } from './elf.js';
import { isBzImage } from './bzimage.js';
import { loadLinux } from './linux.js';
import { PcPlatform } from './pc.js';
import { setupLongMode } from './x86_boot.js';
import { describeException, formatVcpuState } from './diagnostics.js';

export { COM1_PORT } from './pc.js';
const RFLAGS_IF = 1n << 9n;
/** Instructions per vCPU run slice: timers and interrupts are looked at this often. */
const RUN_SLICE = 200_000;
/** The longest a halted vCPU sleeps before looking again (input may have come). */
const MAX_IDLE_NS = 10_000_000n;
/** What the kernel needs on this platform: no APIC and no ACPI, the TSC rate the engine keeps. */
export const LINUX_PLATFORM_ARGS = 'noapic nolapic acpi=off tsc_early_khz=1000000';

/** Atomics.waitAsync (ES2024, in Node since 16), missing from the ES2022 library we build with. */
type AtomicsWaitAsync = typeof Atomics & {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
};

/** How a machine is built. */
export interface MachineConfig {
  /** Guest RAM in bytes. */
  memorySize: number;
  /** Path of the kernel: an ELF executable, a Linux bzImage, or a flat image with `flat`. */
  kernel: string;
  /** Accept a non-ELF kernel as a flat image loaded and entered at 1 MiB. */
  flat?: boolean;
  /** Linux: the initrd's path. Setting it (or `cmdline`) boots the kernel as Linux. */
  initrd?: string;
  /** Linux: the command line; LINUX_PLATFORM_ARGS are appended. */
  cmdline?: string;
  /** Where COM1's output goes. */
  console: CharBackend;
  /** The engine; the software engine by default. */
  hypervisor?: Hypervisor;
  /** Stop with `limit` after this many instructions (for tests and benchmarks). */
  instructionLimit?: number;
  /**
   * Called on the vCPU's thread before every run slice and whenever a sleeping vCPU wakes:
   * where the VMM applies what other threads asked for (console input, a pause, a stop, a key
   * press) with the machine between instructions.
   */
  onSlice?: (machine: Machine) => void;
  /**
   * A counter in shared memory (element 0) that a halted vCPU sleeps on: another thread wakes
   * it at once by adding to it and calling `Atomics.notify`. The machine keeps its own by
   * default; a VMM passes one to wake the vCPU from the thread that owns its requests.
   */
  wake?: Int32Array;
  /**
   * Disks for virtio-blk, at most four, opened (and locked) before the guest starts and closed
   * when it stops. Their requests complete on this thread's event loop: run the machine with
   * {@link Machine.runAsync}.
   */
  disks?: readonly DiskSpec[];
  /**
   * The files of the kernel, initrd and disks (backing files included), opened by someone else
   * (vmd's parent, which checked them): the machine then reads and writes those files through
   * these descriptors only, and refuses a path it was not given.
   */
  files?: readonly HeldFile[];
}

/** Why a machine stopped. */
export type MachineStop =
  /** The guest wrote to the debug-exit port; `code` is (value << 1) | 1. */
  | { readonly kind: 'debug-exit'; readonly code: number }
  /** HLT with interrupts disabled: nothing can wake the vCPU again. */
  | { readonly kind: 'halted'; readonly detail: string }
  /** Triple fault or a reset the guest asked for (8042 reset pulse, reset control register). */
  | { readonly kind: 'shutdown'; readonly detail: string }
  /** An exception the machine could not deliver to the guest. */
  | { readonly kind: 'fault'; readonly detail: string }
  /** The instruction limit was reached. */
  | { readonly kind: 'limit'; readonly detail: string }
  /** The VMM asked the machine to stop (`stop()`). */
  | { readonly kind: 'stopped'; readonly detail: string };

type Stop = Exclude<MachineStop, { kind: 'debug-exit' }>;

/** An error in what the user asked for (a kernel file, a size): reported without a stack. */
export class MachineConfigError extends Error {
  override name = 'MachineConfigError';
}

/**
 * The machine's virtual time: the host's monotonic clock from creation, in nanoseconds, as a
 * number for the engine's TSC (read often, so no BigInt) and as a bigint for the chips. It
 * stands still while stopped, so a paused guest's timers and TSC do not run (and do not all
 * fire at once when it goes on).
 */
class HostClock implements VirtualClock {
  /** Host time (ms) of virtual time 0, moved forward by every stop. */
  #originMs = performance.now();
  /** Host time (ms) at which the clock stopped, while it is stopped. */
  #stoppedAtMs: number | undefined;

  readonly ns = (): number =>
    Math.floor(((this.#stoppedAtMs ?? performance.now()) - this.#originMs) * 1e6);

  now(): bigint {
    return BigInt(this.ns());
  }

  stop(): void {
    this.#stoppedAtMs ??= performance.now();
  }

  start(): void {
    if (this.#stoppedAtMs === undefined) return;
    this.#originMs += performance.now() - this.#stoppedAtMs;
    this.#stoppedAtMs = undefined;
  }
}

/** A built virtual machine, ready to run. */
export class Machine {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly platform: PcPlatform;
  readonly bus: IoBus;
  readonly com1: Ns8250;
  readonly kernel: KernelImage;
  readonly clock: VirtualClock;
  /** The open disk images, in the order configured. */
  readonly disks: readonly DiskImage[];
  readonly #hostClock: HostClock;
  readonly #limit: number;
  readonly #onSlice: ((machine: Machine) => void) | undefined;
  #exitCode: number | undefined;
  /** Why the guest reset the machine, once it has. */
  #resetReason: string | undefined;
  /** The vCPU executed HLT with interrupts enabled and waits for one. */
  #halted = false;
  /** Console input not yet taken by the UART's receiver. */
  #input: number[] = [];
  /** Set by stop(): the run loop ends at the next slice. */
  #stopRequested = false;
  /** Wakes a synchronous sleep early: bumped and notified (element 0). */
  readonly #wake: Int32Array;

  private constructor(
    vm: Vm,
    kernel: KernelImage,
    clock: HostClock,
    config: MachineConfig,
    bootParams: bigint | undefined,
    disks: readonly DiskImage[],
  ) {
    this.vm = vm;
    this.disks = disks;
    this.kernel = kernel;
    this.clock = clock;
    this.#hostClock = clock;
    this.#limit = config.instructionLimit ?? Infinity;
    this.#onSlice = config.onSlice;
    this.#wake = config.wake ?? new Int32Array(new SharedArrayBuffer(4));
    this.platform = new PcPlatform({
      memorySize: config.memorySize,
      console: config.console,
      clock,
      onDebugExit: (code) => {
        this.#exitCode = code;
        this.vcpu.kick();
      },
      onReset: (reason) => {
        this.#resetReason ??= reason;
        this.vcpu.kick();
      },
      memory: vm.memory,
      disks,
      // A disk completion between slices must wake a halted vCPU (runAsync's sleep).
      onInterrupt: () => {
        this.#wakeUp();
      },
    });
    this.bus = this.platform.bus;
    this.com1 = this.platform.com1;
    this.vcpu = vm.createVcpu(0, this.bus);
    const { regs, sregs } = setupLongMode(vm.memory, {
      entry: kernel.entry,
      ...(bootParams === undefined ? {} : { bootParams }),
    });
    this.vcpu.setSregs(sregs);
    this.vcpu.setRegs(regs);
  }

  /** Builds a machine: creates the VM, loads the kernel and sets the vCPU at its entry. */
  static async create(config: MachineConfig): Promise<Machine> {
    const hypervisor = config.hypervisor ?? new SoftHypervisor();
    const clock = new HostClock();
    let vm: Vm;
    try {
      vm = await hypervisor.createVm({ memorySize: config.memorySize, clockNs: clock.ns });
    } catch (error) {
      if (error instanceof RangeError) throw new MachineConfigError(error.message);
      throw error;
    }
    let disks: DiskImage[];
    try {
      const openFile = config.files === undefined ? openPath : heldFileOpener(config.files);
      disks = await openDisks(config.disks ?? [], openFile);
    } catch (error) {
      if (error instanceof DiskOpenError) throw new MachineConfigError(error.message);
      throw error;
    }
    try {
      const kernelPath = readablePath(config, config.kernel);
      if (await Machine.#isLinux(config, kernelPath)) {
        const cmdline = `${config.cmdline ?? ''} ${LINUX_PLATFORM_ARGS}`.trim();
        const initrd = config.initrd;
        const boot = await loadLinux(vm.memory, {
          kernel: await readImageFile(kernelPath, config.kernel),
          name: config.kernel,
          cmdline,
          ...(initrd === undefined
            ? {}
            : { initrd: await readImageFile(readablePath(config, initrd), initrd) }),
        });
        return new Machine(vm, boot.kernel, clock, config, boot.bootParams, disks);
      }
      const kernel = await loadKernelFile(kernelPath, vm.memory, {
        name: config.kernel,
        flat: config.flat === true,
      });
      return new Machine(vm, kernel, clock, config, undefined, disks);
    } catch (error) {
      await closeDisks(disks);
      if (error instanceof KernelLoadError) throw new MachineConfigError(error.message);
      throw error;
    }
  }

  static async #isLinux(config: MachineConfig, kernelPath: string): Promise<boolean> {
    if (config.initrd !== undefined || config.cmdline !== undefined) return true;
    try {
      return isBzImage(await readFile(kernelPath));
    } catch {
      return false; // loadKernelFile reports an unreadable file
    }
  }

  /** Asks the run loop to stop the guest at the end of the current slice. */
  stop(): void {
    this.#stopRequested = true;
    this.vcpu.kick();
    this.#wakeUp();
  }

  /** Queues console input for COM1's receiver. */
  sendInput(bytes: Uint8Array): void {
    for (const b of bytes) this.#input.push(b);
    this.#wakeUp();
  }

  /**
   * Stops the virtual clock, for a pause: no guest time passes (timers, TSC) until
   * {@link resumeClock}. Call between slices, on the vCPU's thread.
   */
  pauseClock(): void {
    this.#hostClock.stop();
  }

  /** Starts the virtual clock again from where {@link pauseClock} stopped it. */
  resumeClock(): void {
    this.#hostClock.start();
  }

  #wakeUp(): void {
    Atomics.add(this.#wake, 0, 1);
    Atomics.notify(this.#wake, 0);
  }

  /** Runs the guest until it stops. Blocks the calling thread (a VM's vCPU thread). */
  run(): MachineStop {
    for (;;) {
      // A wake-up between this read and the wait changes the counter, so it is never missed.
      const seen = Atomics.load(this.#wake, 0);
      const step = this.#step();
      if (typeof step === 'object') return step;
      if (typeof step === 'bigint') Atomics.wait(this.#wake, 0, seen, Number(step) / 1e6);
    }
  }

  /**
   * Runs the guest until it stops, yielding to the event loop between slices (for input and
   * disk completions, which wake a halted vCPU at once), then closes the disks.
   */
  async runAsync(): Promise<MachineStop> {
    for (;;) {
      const seen = Atomics.load(this.#wake, 0);
      const step = this.#step();
      if (typeof step === 'object') {
        await this.close();
        return step;
      }
      if (typeof step === 'bigint') {
        const ms = Number(step) / 1e6;
        // A pending waitAsync does not keep Node's event loop alive, and its own timeout may
        // come after a timer of the same length: the timer ends the sleep, the wait only
        // shortens it (its timeout is a backstop that lets the waiter go).
        const sleep = (Atomics as AtomicsWaitAsync).waitAsync(this.#wake, 0, seen, ms + 1000);
        if (sleep.async) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            sleep.value,
            new Promise((resolve) => (timer = setTimeout(resolve, ms))),
          ]);
          clearTimeout(timer);
        }
      } else {
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Closes the disks, once their requests in flight are done (runAsync does it at the end). */
  async close(): Promise<void> {
    await closeDisks(this.disks);
  }

  /**
   * One slice: input, timers and interrupts, then the vCPU. Returns the stop, or how long to
   * sleep (ns) while the guest halts, or undefined to go on.
   */
  #step(): MachineStop | bigint | undefined {
    this.#onSlice?.(this);
    if (this.#stopRequested) return this.#stop({ kind: 'stopped', detail: 'stopped by the VMM' });
    const left = this.#limit - this.vcpu.instructionCount;
    if (left <= 0) {
      return this.#stop({
        kind: 'limit',
        detail: `stopped after ${this.vcpu.instructionCount} instructions`,
      });
    }
    this.#feedInput();
    this.platform.updateTimers();
    this.#offerInterrupt();
    if (this.#halted) {
      const deadline = this.platform.nextDeadline();
      const wait = deadline === undefined ? MAX_IDLE_NS : deadline - this.clock.now();
      return wait <= 0n ? undefined : wait < MAX_IDLE_NS ? wait : MAX_IDLE_NS;
    }
    const exit = this.vcpu.run(Math.min(RUN_SLICE, left));
    this.platform.flush();
    if (this.#exitCode !== undefined) return { kind: 'debug-exit', code: this.#exitCode };
    if (this.#resetReason !== undefined) {
      return this.#stop({ kind: 'shutdown', detail: this.#resetReason });
    }
    const stop = this.#handle(exit);
    return stop === undefined ? undefined : this.#stop(stop);
  }

  /** Gives the vCPU the 8259's interrupt when it can take one, else asks to be told when. */
  #offerInterrupt(): void {
    if (!this.platform.pic.hasInterrupt()) {
      this.vcpu.requestInterruptWindow(false);
      return;
    }
    if (this.vcpu.interruptible) {
      this.vcpu.requestInterruptWindow(false);
      this.vcpu.injectInterrupt(this.platform.pic.acknowledge());
      this.#halted = false;
    } else {
      this.vcpu.requestInterruptWindow(true);
    }
  }

  #feedInput(): void {
    if (this.#input.length === 0) return;
    const n = Math.min(this.com1.rxSpace(), this.#input.length);
    if (n > 0) this.com1.receive(Uint8Array.from(this.#input.splice(0, n)));
  }

  /** The vCPU's registers, formatted for a person. */
  describeVcpu(): string {
    return formatVcpuState(this.vcpu.getRegs(), this.vcpu.getSregs());
  }

  #handle(exit: VcpuExit): Stop | undefined {
    switch (exit.kind) {
      case 'interrupted':
      case 'irq-window':
        return undefined;
      case 'hlt': {
        const { rip, rflags } = this.vcpu.getRegs();
        if ((rflags & RFLAGS_IF) !== 0n) {
          this.#halted = true;
          return undefined;
        }
        return {
          kind: 'halted',
          detail: `hlt at rip 0x${(rip - 1n).toString(16)} with interrupts disabled`,
        };
      }
      case 'shutdown':
        return { kind: 'shutdown', detail: exit.reason };
      case 'exception':
        return { kind: 'fault', detail: `guest exception ${describeException(exit)}` };
    }
  }

  #stop(stop: Stop): MachineStop {
    return { ...stop, detail: `${stop.detail}\n${this.describeVcpu()}` };
  }
}

/**
 * Where to read the kernel or initrd `path` from: the path itself, or, when the machine was
 * given its files, the descriptor held for it (reopened through /proc, which reaches the file
 * the descriptor names whatever the path names by now).
 */
function readablePath(config: MachineConfig, path: string): string {
  if (config.files === undefined) return path;
  const held = config.files.find((file) => file.path === path);
  if (held === undefined) throw new MachineConfigError(`${path}: not opened by vmd`);
  return `/proc/self/fd/${held.fd}`;
}
