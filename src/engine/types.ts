/**
 * The engine seam: what every virtual machine monitor backend (the software x86-64 engine, KVM)
 * offers to the machine layer. Shaped after KVM's userspace-irqchip protocol so that the KVM
 * backend maps onto it one to one; the software engine fills the same shapes.
 *
 * Port and MMIO accesses do not leave `run()`: the engine completes them inline through the
 * {@link IoHandler} it was created with (Cloud Hypervisor's `VmOps` pattern). For the software
 * engine that is a synchronous call from wasm into the device model on the same thread, which
 * costs nanoseconds; returning to the caller and restarting a half-executed instruction would
 * cost far more and buy nothing. `run()` returns only for what the machine layer must decide.
 */

import type { GuestMemory } from './memory.js';

/** Width of a port access in bytes. */
export type PioSize = 1 | 2 | 4;

/** Width of an MMIO access in bytes; wider guest accesses are split into 4-byte halves. */
export type MmioSize = 1 | 2 | 4;

/**
 * The machine's side of port and MMIO accesses, called by the engine during `run()`.
 * The engine never knows which device answers.
 */
export interface IoHandler {
  /** A guest `in`: returns the value, of which the low `size` bytes are used. */
  pioRead(port: number, size: PioSize): number;
  /** A guest `out` of the low `size` bytes of `value`. */
  pioWrite(port: number, size: PioSize, value: number): void;
  /** A guest read of guest-physical `gpa` that is not RAM. */
  mmioRead(gpa: number, size: MmioSize): number;
  /** A guest write to guest-physical `gpa` that is not RAM. */
  mmioWrite(gpa: number, size: MmioSize, value: number): void;
}

/** x86 exception vectors the engine reports (Intel SDM Vol. 3A, Table 6-1). */
export const Vector = {
  DE: 0,
  DB: 1,
  BP: 3,
  UD: 6,
  NM: 7,
  DF: 8,
  TS: 10,
  NP: 11,
  SS: 12,
  GP: 13,
  PF: 14,
  MF: 16,
  AC: 17,
  XM: 19,
} as const;

/** Mnemonic of an exception vector, for messages. */
export function vectorName(vector: number): string {
  for (const [name, v] of Object.entries(Vector)) if (v === vector) return `#${name}`;
  return `vector ${vector}`;
}

/** Why `run()` returned. */
export type VcpuExit =
  /** The guest executed HLT with interrupts enabled; RIP is past the HLT. */
  | { readonly kind: 'hlt' }
  /** `requestInterruptWindow(true)` was set and the vCPU can now take an interrupt. */
  | { readonly kind: 'irq-window' }
  /** Triple fault or an explicit reset request: the VM must be reset or stopped. */
  | { readonly kind: 'shutdown'; readonly reason: string }
  /** `kick()` was called, or the instruction budget given to `run()` was spent. */
  | { readonly kind: 'interrupted' }
  /**
   * An exception the engine could not deliver to the guest (no IDT delivery, or delivery
   * itself failed). `rip` is the faulting instruction; `bytes` are up to 15 bytes read there
   * (fewer when the fetch itself faulted).
   */
  | {
      readonly kind: 'exception';
      readonly vector: number;
      readonly errorCode: number | undefined;
      readonly rip: bigint;
      readonly cr2: bigint;
      readonly bytes: Uint8Array;
    };

/** The general registers, as KVM's `struct kvm_regs`. */
export interface Regs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

/** The order of the general registers in an instruction's register field. */
export const GPR_NAMES = [
  'rax',
  'rcx',
  'rdx',
  'rbx',
  'rsp',
  'rbp',
  'rsi',
  'rdi',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
] as const;

/** A segment register with its hidden descriptor cache, as KVM's `struct kvm_segment`. */
export interface Segment {
  selector: number;
  base: bigint;
  limit: number;
  /** Descriptor type field (bits 40–43 of the descriptor). */
  type: number;
  present: boolean;
  dpl: number;
  /** D/B: default operand size 32 in protected mode. */
  db: boolean;
  /** S: code or data (as opposed to system) descriptor. */
  s: boolean;
  /** L: 64-bit code segment. */
  l: boolean;
  /** G: limit is in 4 KiB units (the cached `limit` is already scaled). */
  g: boolean;
}

/** A descriptor-table register (GDTR, IDTR). */
export interface DescriptorTable {
  base: bigint;
  limit: number;
}

/** The system registers, as KVM's `struct kvm_sregs` (without the interrupt bitmap). */
export interface Sregs {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
}

/**
 * The x87 and SSE state, as KVM's `struct kvm_fpu`: the registers of an FXSAVE image (SDM
 * Vol. 1, Table 10-2) without its reserved bytes.
 */
export interface Fpu {
  /** ST(0)..ST(7) in stack order, 16 bytes each: the 80-bit value in the low 10 bytes. */
  fpr: Uint8Array[];
  /** x87 control word. */
  fcw: number;
  /** x87 status word (TOP in bits 11–13). */
  fsw: number;
  /** The abridged tag word, as FXSAVE stores it: bit i set when physical register i is in use. */
  ftwx: number;
  /** The 11-bit opcode of the last non-control x87 instruction. */
  lastOpcode: number;
  /** Its address. */
  lastIp: bigint;
  /** The address of its memory operand. */
  lastDp: bigint;
  /** XMM0..XMM15, 16 bytes each, little-endian. */
  xmm: Uint8Array[];
  /** SSE control and status. */
  mxcsr: number;
}

/** One virtual CPU. Every method but `kick()` belongs to the thread that runs it. */
export interface Vcpu {
  /**
   * Runs the guest until something the machine layer must handle. `budget` bounds the number
   * of instructions (a rep-prefixed string instruction counts once per iteration batch) so the
   * caller can service timers; when it is spent the exit is `interrupted`.
   */
  run(budget?: number): VcpuExit;
  /** The general registers. */
  getRegs(): Regs;
  /** Sets the general registers. */
  setRegs(regs: Regs): void;
  /** The system registers. */
  getSregs(): Sregs;
  /** Sets the system registers; the engine drops any cached translation. */
  setSregs(sregs: Sregs): void;
  /** The x87 and SSE registers. */
  getFpu(): Fpu;
  /** Sets the x87 and SSE registers; a RangeError for MXCSR bits the engine does not support. */
  setFpu(fpu: Fpu): void;
  /** True when the guest can take an external interrupt now (IF = 1, no interrupt shadow). */
  readonly interruptible: boolean;
  /** Queues external interrupt `vector` for delivery before the next instruction. */
  injectInterrupt(vector: number): void;
  /** Asks `run()` to return `irq-window` as soon as the guest becomes interruptible. */
  requestInterruptWindow(on: boolean): void;
  /** Makes `run()` return `interrupted` at the next instruction boundary. Any thread. */
  kick(): void;
  /** How many instructions this vCPU has retired. */
  readonly instructionCount: number;
}

/** What a VM is made of when it is created. */
export interface VmSpec {
  /** Guest RAM in bytes, a multiple of 4 KiB. */
  memorySize: number;
  /**
   * The machine's virtual clock in nanoseconds, shared with its timers; the software engine's
   * TSC counts it at 1 GHz. Defaults to the host's monotonic clock from VM creation.
   */
  clockNs?: () => number;
}

/** One virtual machine: guest memory and its vCPUs. */
export interface Vm {
  /** The guest's physical RAM. */
  readonly memory: GuestMemory;
  /** Creates vCPU `index`, which sends its port and MMIO accesses to `io`. */
  createVcpu(index: number, io: IoHandler): Vcpu;
}

/** A virtual machine monitor backend. */
export interface Hypervisor {
  /** `soft` for the built-in engine, `kvm` for the host's. */
  readonly name: 'soft' | 'kvm';
  /** Creates a VM. */
  createVm(spec: VmSpec): Promise<Vm>;
}
