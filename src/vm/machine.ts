/**
 * A virtual machine as the VM process sees it: guest memory, one vCPU, the devices on an I/O
 * bus, and a kernel loaded and entered. `run()` drives the vCPU until the guest stops.
 *
 * The platform so far: COM1 (ns8250 at 0x3f8, IRQ 4, interrupt not yet wired to a PIC) and the
 * debug-exit port 0xf4. Kernels are ELF executables or, on request, flat 64-bit images, entered
 * in long mode as the Linux 64-bit boot protocol enters a kernel.
 */

import { SoftHypervisor } from '../engine/soft/engine.js';
import type { Hypervisor, Vcpu, Vm, VcpuExit } from '../engine/types.js';
import { IoBus } from '../devices/bus.js';
import { DebugExit, DEBUG_EXIT_PORT } from '../devices/debug_exit.js';
import { Ns8250 } from '../devices/ns8250.js';
import type { CharBackend } from '../devices/types.js';
import { NO_IRQ } from '../devices/types.js';
import { KernelLoadError, loadKernelFile } from './elf.js';
import type { KernelImage } from './elf.js';
import { setupLongMode } from './x86_boot.js';
import { describeException, formatVcpuState } from './diagnostics.js';

/** COM1's base port and port count. */
export const COM1_PORT = 0x3f8;
const UART_PORTS = 8;
/** Instructions per vCPU run slice: the machine regains control this often. */
const RUN_SLICE = 1_000_000;

/** How a machine is built. */
export interface MachineConfig {
  /** Guest RAM in bytes. */
  memorySize: number;
  /** Path of the kernel: an ELF executable, or a flat 64-bit image when `flat` is set. */
  kernel: string;
  /** Accept a non-ELF kernel as a flat image loaded and entered at 1 MiB. */
  flat?: boolean;
  /** Where COM1's output goes. */
  console: CharBackend;
  /** The engine; the software engine by default. */
  hypervisor?: Hypervisor;
  /** Stop with `limit` after this many instructions (for tests and benchmarks). */
  instructionLimit?: number;
}

/** Why a machine stopped. */
export type MachineStop =
  /** The guest wrote to the debug-exit port; `code` is (value << 1) | 1. */
  | { readonly kind: 'debug-exit'; readonly code: number }
  /** HLT with interrupts disabled: nothing can wake the vCPU again. */
  | { readonly kind: 'halted'; readonly detail: string }
  /** Triple fault or reset request. */
  | { readonly kind: 'shutdown'; readonly detail: string }
  /** An exception the machine could not deliver to the guest. */
  | { readonly kind: 'fault'; readonly detail: string }
  /** The instruction limit was reached. */
  | { readonly kind: 'limit'; readonly detail: string };

/** An error in what the user asked for (a kernel file, a size): reported without a stack. */
export class MachineConfigError extends Error {
  override name = 'MachineConfigError';
}

/** A built virtual machine, ready to run. */
export class Machine {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly bus: IoBus;
  readonly com1: Ns8250;
  readonly kernel: KernelImage;
  readonly #limit: number;
  #exitCode: number | undefined;

  private constructor(vm: Vm, kernel: KernelImage, config: MachineConfig) {
    this.vm = vm;
    this.kernel = kernel;
    this.#limit = config.instructionLimit ?? Infinity;
    this.bus = new IoBus();
    this.com1 = new Ns8250({ name: 'com1', irq: NO_IRQ, backend: config.console });
    this.bus.addPio(COM1_PORT, UART_PORTS, this.com1);
    const debugExit = new DebugExit({
      onExit: (code) => {
        this.#exitCode = code;
        this.vcpu.kick();
      },
    });
    this.bus.addPio(DEBUG_EXIT_PORT, 1, debugExit);
    this.vcpu = vm.createVcpu(0, this.bus);
    const { regs, sregs } = setupLongMode(vm.memory, { entry: kernel.entry });
    this.vcpu.setSregs(sregs);
    this.vcpu.setRegs(regs);
  }

  /** Builds a machine: creates the VM, loads the kernel and sets the vCPU at its entry. */
  static async create(config: MachineConfig): Promise<Machine> {
    const hypervisor = config.hypervisor ?? new SoftHypervisor();
    let vm: Vm;
    try {
      vm = await hypervisor.createVm({ memorySize: config.memorySize });
    } catch (error) {
      if (error instanceof RangeError) throw new MachineConfigError(error.message);
      throw error;
    }
    let kernel: KernelImage;
    try {
      kernel = await loadKernelFile(config.kernel, vm.memory, { flat: config.flat === true });
    } catch (error) {
      if (error instanceof KernelLoadError) throw new MachineConfigError(error.message);
      throw error;
    }
    return new Machine(vm, kernel, config);
  }

  /** Runs the guest until it stops. Blocks the calling thread (a VM's vCPU thread). */
  run(): MachineStop {
    for (;;) {
      const left = this.#limit - this.vcpu.instructionCount;
      if (left <= 0) {
        return this.#stop({
          kind: 'limit',
          detail: `stopped after ${this.vcpu.instructionCount} instructions`,
        });
      }
      const exit = this.vcpu.run(Math.min(RUN_SLICE, left));
      this.com1.flush();
      if (this.#exitCode !== undefined) return { kind: 'debug-exit', code: this.#exitCode };
      const stop = this.#handle(exit);
      if (stop !== undefined) return this.#stop(stop);
    }
  }

  /** The vCPU's registers, formatted for a person. */
  describeVcpu(): string {
    return formatVcpuState(this.vcpu.getRegs(), this.vcpu.getSregs());
  }

  #handle(exit: VcpuExit): Exclude<MachineStop, { kind: 'debug-exit' }> | undefined {
    switch (exit.kind) {
      case 'interrupted':
      case 'irq-window':
        return undefined;
      case 'hlt':
        // No interrupt source is wired yet, so a halted vCPU never wakes.
        return {
          kind: 'halted',
          detail: `hlt at rip 0x${(this.vcpu.getRegs().rip - 1n).toString(16)} with no interrupt source`,
        };
      case 'shutdown':
        return { kind: 'shutdown', detail: exit.reason };
      case 'exception':
        return { kind: 'fault', detail: `guest exception ${describeException(exit)}` };
    }
  }

  #stop(stop: Exclude<MachineStop, { kind: 'debug-exit' }>): MachineStop {
    return { ...stop, detail: `${stop.detail}\n${this.describeVcpu()}` };
  }
}
