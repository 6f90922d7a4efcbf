/**
 * The software x86-64 engine behind the engine seam: loads the AssemblyScript core
 * (core.wasm), gives it guest RAM in a shared `WebAssembly.Memory`, and turns its run-loop
 * results and traps into {@link VcpuExit}s.
 */

import { readFileSync } from 'node:fs';
import { GuestMemory } from '../memory.js';
import type {
  Fpu,
  Hypervisor,
  IoHandler,
  MmioSize,
  PioSize,
  Regs,
  Segment,
  Sregs,
  Vcpu,
  VcpuExit,
  Vm,
  VmSpec,
} from '../types.js';
import { GPR_NAMES } from '../types.js';

/** Guest-physical 0 in the wasm memory; mirrors core/layout.ts RAM_BASE (checked at start). */
const RAM_BASE = 0x400_0000;
const WASM_PAGE = 65536;
const MAX_WASM_PAGES = 65536;

// Exchange-area slots, mirroring core/state.ts.
const S_RIP = 16;
const S_RFLAGS = 17;
const S_CR0 = 18;
const S_CR2 = 19;
const S_CR3 = 20;
const S_CR4 = 21;
const S_CR8 = 22;
const S_EFER = 23;
const S_SEGS = 32;
const S_GDTR = 64;
const S_IDTR = 66;
const S_EXC = 72;
/** The x87/SSE state, an FXSAVE image, at this offset in the exchange area (core/layout.ts). */
const FXAREA_OFFSET = 0x800;
const FXAREA_SIZE = 512;
// Offsets in the image (core/sse.ts) and reset values (SDM Vol. 3A, Table 9-1).
const FX_FCW = 0;
const FX_FSW = 2;
const FX_FTW = 4;
const FX_FOP = 6;
const FX_FIP = 8;
const FX_FDP = 16;
const FX_MXCSR = 24;
const FX_MXCSR_MASK = 28;
const FX_ST = 32;
const FX_XMM = 160;
const FCW_RESET = 0x37f;
const MXCSR_RESET = 0x1f80;
/** MXCSR bits the engine supports, as core/sse.ts MXCSR_MASK. */
const MXCSR_MASK = 0xffff;
const SEG_ORDER = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldt', 'tr'] as const;

// run() results, mirroring core/index.ts.
const EXIT_BUDGET = 0;
const EXIT_KICK = 1;
const EXIT_HLT = 2;
const EXIT_IRQ_WINDOW = 3;
// deliverException() results, mirroring core/interrupts.ts.
const DELIVERED = 0;
const SHUTDOWN = 1;
const NO_IDT = 2;
const ATT_KICK = 1;
const ATT_IRQ_WINDOW = 2;
/** Instructions per run() when the caller names no budget. */
const DEFAULT_BUDGET = 1_000_000;
const MAX_INSTRUCTION_LENGTH = 15;
const NO_ERROR_CODE = 0xffff_ffff_ffff_ffffn;

/** The exports of core.wasm (see src/engine/soft/core/index.ts). */
interface CoreExports {
  init(ramSize: number): number;
  stateAddress(): number;
  attentionAddress(): number;
  ramBase(): number;
  instructionCount(): number;
  syncOut(): void;
  syncIn(): void;
  interruptible(): number;
  takeException(): number;
  codeByte(va: bigint): number;
  fetchedAddress(): number;
  fetchedLength(): number;
  invalidateCode(gpa: number, length: number): void;
  deliverException(): number;
  injectExternal(vector: number): void;
  run(budget: number): number;
}

let compiled: WebAssembly.Module | undefined;

/** The compiled core, loaded once per thread. */
function coreModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL('./core.wasm', import.meta.url)));
  return compiled;
}

/** Packs a segment's attributes as VMX access rights (SDM Vol. 3C, 24.4.1), as the core keeps them. */
function packAttributes(s: Segment): bigint {
  return BigInt(
    (s.type & 15) |
      (s.s ? 1 << 4 : 0) |
      ((s.dpl & 3) << 5) |
      (s.present ? 1 << 7 : 0) |
      (s.l ? 1 << 13 : 0) |
      (s.db ? 1 << 14 : 0) |
      (s.g ? 1 << 15 : 0) |
      (s.present ? 0 : 1 << 16),
  );
}

function unpackSegment(selector: bigint, base: bigint, limit: bigint, attr: bigint): Segment {
  const a = Number(attr);
  return {
    selector: Number(selector),
    base,
    limit: Number(limit),
    type: a & 15,
    s: (a & (1 << 4)) !== 0,
    dpl: (a >> 5) & 3,
    present: (a & (1 << 7)) !== 0,
    l: (a & (1 << 13)) !== 0,
    db: (a & (1 << 14)) !== 0,
    g: (a & (1 << 15)) !== 0,
  };
}

/** One vCPU of the software engine. */
class SoftVcpu implements Vcpu {
  readonly #core: CoreExports;
  readonly #state: BigUint64Array;
  readonly #attention: Int32Array;
  readonly #attentionIndex: number;
  readonly #bytes: Uint8Array;
  /** The FXSAVE image the core keeps the x87/SSE state in. */
  readonly #fx: DataView;
  readonly #fxBytes: Uint8Array;
  /** An exit decided outside run() (a triple fault while injecting), reported by the next run. */
  #pendingExit: VcpuExit | undefined;

  constructor(memory: WebAssembly.Memory, ramSize: number, io: IoHandler, clockNs: () => number) {
    const imports = {
      env: {
        memory,
        clockNs,
        pioRead: (port: number, size: number): number => io.pioRead(port, size as PioSize),
        pioWrite: (port: number, size: number, value: number): void => {
          io.pioWrite(port, size as PioSize, value);
        },
        mmioRead: (gpa: number, size: number): number => io.mmioRead(gpa, size as MmioSize),
        mmioWrite: (gpa: number, size: number, value: number): void => {
          io.mmioWrite(gpa, size as MmioSize, value);
        },
      },
    };
    const instance = new WebAssembly.Instance(coreModule(), imports);
    this.#core = instance.exports as unknown as CoreExports;
    if (this.#core.ramBase() !== RAM_BASE) {
      throw new Error(
        `core.wasm keeps RAM at 0x${this.#core.ramBase().toString(16)}, not 0x${RAM_BASE.toString(16)}`,
      );
    }
    if (this.#core.init(ramSize) !== 0) {
      throw new Error(`the software engine cannot hold ${ramSize} bytes of guest RAM`);
    }
    this.#state = new BigUint64Array(memory.buffer, this.#core.stateAddress(), 128);
    this.#attention = new Int32Array(memory.buffer);
    this.#attentionIndex = this.#core.attentionAddress() >> 2;
    this.#bytes = new Uint8Array(memory.buffer);
    this.#fx = new DataView(memory.buffer, this.#core.stateAddress() + FXAREA_OFFSET, FXAREA_SIZE);
    this.#fxBytes = new Uint8Array(this.#fx.buffer, this.#fx.byteOffset, FXAREA_SIZE);
    this.#fx.setUint16(FX_FCW, FCW_RESET, true);
    this.#fx.setUint32(FX_MXCSR, MXCSR_RESET, true);
    this.#fx.setUint32(FX_MXCSR_MASK, MXCSR_MASK, true);
  }

  run(budget = DEFAULT_BUDGET): VcpuExit {
    if (this.#pendingExit !== undefined) {
      const exit = this.#pendingExit;
      this.#pendingExit = undefined;
      return exit;
    }
    const start = this.#core.instructionCount();
    for (;;) {
      let code: number;
      try {
        code = this.#core.run(budget - (this.#core.instructionCount() - start));
      } catch (error) {
        const exit = this.#afterTrap(error);
        if (exit !== undefined) return exit;
        continue;
      }
      switch (code) {
        case EXIT_BUDGET:
        case EXIT_KICK:
          return { kind: 'interrupted' };
        case EXIT_HLT:
          return { kind: 'hlt' };
        case EXIT_IRQ_WINDOW:
          return { kind: 'irq-window' };
        default:
          throw new Error(`software engine returned unknown exit code ${code}`);
      }
    }
  }

  /**
   * A trap left the core: deliver the pending exception through the guest's IDT (a fault
   * while delivering traps again and escalates: #DF, then a triple fault). Returns the exit to
   * report, or undefined to go on running. A trap with nothing pending is an engine bug.
   */
  #afterTrap(error: unknown): VcpuExit | undefined {
    for (;;) {
      const vector = this.#state[S_EXC] ?? 0n;
      let result: number;
      try {
        result = this.#core.deliverException();
      } catch {
        continue; // a fault during delivery: deliver (or escalate) that one
      }
      switch (result) {
        case DELIVERED:
          return undefined;
        case SHUTDOWN:
          return { kind: 'shutdown', reason: `triple fault (exception ${vector} during #DF)` };
        case NO_IDT:
          return this.#exceptionExit(Number(vector));
        default:
          throw error;
      }
    }
  }

  #exceptionExit(vector: number): VcpuExit {
    this.#core.syncOut();
    const rip = this.#state[S_EXC + 3] ?? 0n;
    const errorCode = this.#state[S_EXC + 1] ?? NO_ERROR_CODE;
    // The code in RAM at RIP when it can be read; else what the decoder fetched (from MMIO).
    const bytes: number[] = [];
    for (let i = 0; i < MAX_INSTRUCTION_LENGTH; i++) {
      const b = this.#core.codeByte(BigInt.asUintN(64, rip + BigInt(i)));
      if (b < 0) break;
      bytes.push(b);
    }
    if (bytes.length === 0) {
      const at = this.#core.fetchedAddress();
      bytes.push(...this.#bytes.subarray(at, at + this.#core.fetchedLength()));
    }
    return {
      kind: 'exception',
      vector,
      errorCode: errorCode === NO_ERROR_CODE ? undefined : Number(errorCode & 0xffff_ffffn),
      rip,
      cr2: this.#state[S_CR2] ?? 0n,
      bytes: Uint8Array.from(bytes),
    };
  }

  #slot(n: number): bigint {
    return this.#state[n] ?? 0n;
  }

  getRegs(): Regs {
    this.#core.syncOut();
    const regs = { rip: this.#slot(S_RIP), rflags: this.#slot(S_RFLAGS) } as Regs;
    GPR_NAMES.forEach((name, i) => {
      regs[name] = this.#slot(i);
    });
    return regs;
  }

  setRegs(regs: Regs): void {
    this.#core.syncOut();
    GPR_NAMES.forEach((name, i) => {
      this.#state[i] = BigInt.asUintN(64, regs[name]);
    });
    this.#state[S_RIP] = BigInt.asUintN(64, regs.rip);
    this.#state[S_RFLAGS] = BigInt.asUintN(64, regs.rflags);
    this.#core.syncIn();
  }

  getSregs(): Sregs {
    this.#core.syncOut();
    const seg = (i: number): Segment => {
      const at = S_SEGS + i * 4;
      return unpackSegment(
        this.#slot(at),
        this.#slot(at + 1),
        this.#slot(at + 2),
        this.#slot(at + 3),
      );
    };
    return {
      es: seg(0),
      cs: seg(1),
      ss: seg(2),
      ds: seg(3),
      fs: seg(4),
      gs: seg(5),
      ldt: seg(6),
      tr: seg(7),
      gdt: { base: this.#slot(S_GDTR), limit: Number(this.#slot(S_GDTR + 1)) },
      idt: { base: this.#slot(S_IDTR), limit: Number(this.#slot(S_IDTR + 1)) },
      cr0: this.#slot(S_CR0),
      cr2: this.#slot(S_CR2),
      cr3: this.#slot(S_CR3),
      cr4: this.#slot(S_CR4),
      cr8: this.#slot(S_CR8),
      efer: this.#slot(S_EFER),
    };
  }

  setSregs(sregs: Sregs): void {
    this.#core.syncOut();
    SEG_ORDER.forEach((name, i) => {
      const s = sregs[name];
      const at = S_SEGS + i * 4;
      this.#state[at] = BigInt(s.selector & 0xffff);
      this.#state[at + 1] = BigInt.asUintN(64, s.base);
      this.#state[at + 2] = BigInt(s.limit >>> 0);
      this.#state[at + 3] = packAttributes(s);
    });
    this.#state[S_GDTR] = BigInt.asUintN(64, sregs.gdt.base);
    this.#state[S_GDTR + 1] = BigInt(sregs.gdt.limit & 0xffff);
    this.#state[S_IDTR] = BigInt.asUintN(64, sregs.idt.base);
    this.#state[S_IDTR + 1] = BigInt(sregs.idt.limit & 0xffff);
    this.#state[S_CR0] = BigInt.asUintN(64, sregs.cr0);
    this.#state[S_CR2] = BigInt.asUintN(64, sregs.cr2);
    this.#state[S_CR3] = BigInt.asUintN(64, sregs.cr3);
    this.#state[S_CR4] = BigInt.asUintN(64, sregs.cr4);
    this.#state[S_CR8] = BigInt.asUintN(64, sregs.cr8);
    this.#state[S_EFER] = BigInt.asUintN(64, sregs.efer);
    this.#core.syncIn();
  }

  getFpu(): Fpu {
    const fx = this.#fx;
    const bytes = (at: number): Uint8Array => this.#fxBytes.slice(at, at + 16);
    return {
      fpr: Array.from({ length: 8 }, (_, i) => {
        const r = bytes(FX_ST + 16 * i);
        r.fill(0, 10);
        return r;
      }),
      fcw: fx.getUint16(FX_FCW, true),
      fsw: fx.getUint16(FX_FSW, true),
      ftwx: fx.getUint8(FX_FTW),
      lastOpcode: fx.getUint16(FX_FOP, true),
      lastIp: fx.getBigUint64(FX_FIP, true),
      lastDp: fx.getBigUint64(FX_FDP, true),
      xmm: Array.from({ length: 16 }, (_, i) => bytes(FX_XMM + 16 * i)),
      mxcsr: fx.getUint32(FX_MXCSR, true),
    };
  }

  setFpu(fpu: Fpu): void {
    if ((fpu.mxcsr & ~MXCSR_MASK) !== 0) {
      throw new RangeError(`MXCSR 0x${fpu.mxcsr.toString(16)} sets unsupported bits`);
    }
    const fx = this.#fx;
    const put = (at: number, src: Uint8Array | undefined, n: number): void => {
      const len = Math.min(n, src?.length ?? 0);
      if (src !== undefined) this.#fxBytes.set(src.subarray(0, len), at);
      this.#fxBytes.fill(0, at + len, at + 16);
    };
    for (let i = 0; i < 8; i++) put(FX_ST + 16 * i, fpu.fpr[i], 10);
    for (let i = 0; i < 16; i++) put(FX_XMM + 16 * i, fpu.xmm[i], 16);
    fx.setUint16(FX_FCW, fpu.fcw, true);
    fx.setUint16(FX_FSW, fpu.fsw, true);
    fx.setUint8(FX_FTW, fpu.ftwx);
    fx.setUint8(FX_FTW + 1, 0);
    fx.setUint16(FX_FOP, fpu.lastOpcode & 0x7ff, true);
    fx.setBigUint64(FX_FIP, BigInt.asUintN(64, fpu.lastIp), true);
    fx.setBigUint64(FX_FDP, BigInt.asUintN(64, fpu.lastDp), true);
    fx.setUint32(FX_MXCSR, fpu.mxcsr, true);
  }

  get interruptible(): boolean {
    return this.#core.interruptible() !== 0;
  }

  injectInterrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) {
      throw new RangeError(`interrupt vector ${vector} is not 0–255`);
    }
    try {
      this.#core.injectExternal(vector);
    } catch (error) {
      // A fault while delivering: it is delivered in turn when the vCPU next runs, or ends it.
      const exit = this.#afterTrap(error);
      if (exit !== undefined) this.#pendingExit = exit;
    }
  }

  requestInterruptWindow(on: boolean): void {
    if (on) Atomics.or(this.#attention, this.#attentionIndex, ATT_IRQ_WINDOW);
    else Atomics.and(this.#attention, this.#attentionIndex, ~ATT_IRQ_WINDOW);
  }

  kick(): void {
    Atomics.or(this.#attention, this.#attentionIndex, ATT_KICK);
  }

  get instructionCount(): number {
    return this.#core.instructionCount();
  }

  /** Drops decoded code of guest-physical `[gpa, gpa + length)` after a VMM-side write. */
  invalidateCode(gpa: number, length: number): void {
    this.#core.invalidateCode(gpa, length);
  }
}

/** A VM of the software engine: guest RAM in one shared wasm memory. */
class SoftVm implements Vm {
  readonly memory: GuestMemory;
  readonly #wasmMemory: WebAssembly.Memory;
  readonly #clockNs: () => number;
  #vcpu: SoftVcpu | undefined;

  constructor(spec: VmSpec) {
    const { memorySize } = spec;
    if (!Number.isSafeInteger(memorySize) || memorySize <= 0 || memorySize % 4096 !== 0) {
      throw new RangeError(`guest memory size ${memorySize} is not a positive multiple of 4 KiB`);
    }
    const pages = Math.ceil((RAM_BASE + memorySize) / WASM_PAGE);
    if (pages > MAX_WASM_PAGES) {
      const max = (MAX_WASM_PAGES * WASM_PAGE - RAM_BASE) / (1024 * 1024);
      throw new RangeError(
        `guest memory of ${memorySize / (1024 * 1024)} MiB exceeds the software engine's ` +
          `maximum of ${max} MiB`,
      );
    }
    this.#wasmMemory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const origin = performance.now();
    this.#clockNs = spec.clockNs ?? ((): number => Math.floor((performance.now() - origin) * 1e6));
    this.memory = new GuestMemory(this.#wasmMemory.buffer, {
      base: RAM_BASE,
      size: memorySize,
      invalidate: (gpa, length) => this.#vcpu?.invalidateCode(gpa, length),
    });
  }

  createVcpu(index: number, io: IoHandler): Vcpu {
    // The core keeps its state at fixed addresses of the shared memory: one vCPU per VM, which
    // is what vmd creates (vmctl sets vcp_ncpus = 1).
    if (index !== 0 || this.#vcpu !== undefined) {
      throw new Error('the software engine runs one vCPU per VM');
    }
    this.#vcpu = new SoftVcpu(this.#wasmMemory, this.memory.size, io, this.#clockNs);
    return this.#vcpu;
  }
}

/** The built-in x86-64 engine. */
export class SoftHypervisor implements Hypervisor {
  readonly name = 'soft' as const;

  createVm(spec: VmSpec): Promise<Vm> {
    return Promise.resolve(new SoftVm(spec));
  }
}
