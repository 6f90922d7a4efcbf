/**
 * The software-engine side of the differential test: one VM, reused for every case, whose
 * guest RAM holds the scratch regions of scratch.ts at the same addresses as the native
 * harness, behind user-mode page tables. A case sets the registers, runs at CPL 3 from the
 * snippet until the exception that ends it (the UD2 after every path), and reads back the
 * registers and the words of STACK and DATA that changed.
 */

import { SoftHypervisor } from '../../src/engine/soft/engine.js';
import { GPR_NAMES, Vector } from '../../src/engine/types.js';
import type { GuestMemory } from '../../src/engine/memory.js';
import type { Fpu, IoHandler, Regs, Vcpu } from '../../src/engine/types.js';
import { setupLongMode } from '../../src/vm/x86_boot.js';
import { PDE_COUNT, PDPTE_START, PDE_START, PML4_START } from '../../src/vm/layout.js';
import {
  CODE,
  CODE_SIZE,
  DATA,
  DATA_RW_SIZE,
  DATA_SIZE,
  SIG,
  STACK,
  STACK_SIZE,
  codePatches,
  inCode,
  inPatterned,
  patternWords,
} from './scratch.js';
import type { Case, Outcome } from './scratch.js';
import { fpuToImage, imageDiff, imageToFpu, resetImage } from './fpu_state.js';

/** Guest RAM: the scratch regions lie in the second 2 MiB. */
const RAM_SIZE = 0x40_0000;
/** Where the 4 KiB page table mapping [2 MiB, 4 MiB) goes; below it the boot tables end. */
const SCRATCH_PT = 0x1_0000;
const PTE_P = 1n;
const PTE_RW = 2n;
const PTE_US = 4n;
const PTE_A = 0x20n;
const PTE_D = 0x40n;
const PTE_NX = 1n << 63n;
/** Instructions a case may run before it counts as runaway (REP iterations batch). */
const BUDGET = 10_000;
/** User-mode selectors, as Linux's __USER_CS / __USER_DS. */
const USER_CS = 0x33;
const USER_DS = 0x2b;
/** RFLAGS bit 1 and IF, which a user-mode process always has. */
const RFLAGS_USER = 0x202n;
/**
 * CR4.OSFXSR and CR4.OSXMMEXCPT, which Linux sets (and the host runs with): SSE instructions
 * are available and unmasked SIMD exceptions raise #XM.
 */
const CR4_OSFXSR = 1n << 9n;
const CR4_OSXMMEXCPT = 1n << 10n;
/** The state of cases that name none. */
const RESET_IMAGE = resetImage();
const RESET_FPU = imageToFpu(RESET_IMAGE);

/** The Linux signal an exception vector raises in a user process. */
export function signalOf(vector: number): number {
  switch (vector) {
    case Vector.DE:
    case Vector.MF:
    case Vector.XM:
      return SIG.FPE;
    case Vector.DB:
    case Vector.BP:
      return SIG.TRAP;
    case Vector.UD:
      return SIG.ILL;
    case Vector.SS:
    case Vector.AC:
      return SIG.BUS;
    default:
      return SIG.SEGV;
  }
}

const refuseIo: IoHandler = {
  pioRead: (port) => {
    throw new Error(`snippet read port 0x${port.toString(16)} at CPL 3`);
  },
  pioWrite: (port) => {
    throw new Error(`snippet wrote port 0x${port.toString(16)} at CPL 3`);
  },
  mmioRead: (gpa) => {
    throw new Error(`snippet read MMIO at 0x${gpa.toString(16)}`);
  },
  mmioWrite: (gpa) => {
    throw new Error(`snippet wrote MMIO at 0x${gpa.toString(16)}`);
  },
};

/** Page-table entry for the 4 KiB page at `va` in [2 MiB, 4 MiB). */
function scratchPte(va: number): bigint {
  const frame = BigInt(va) | PTE_P | PTE_US | PTE_A | PTE_D;
  if (inCode(va)) return frame | PTE_RW;
  if (va >= STACK && va < STACK + STACK_SIZE) return frame | PTE_RW | PTE_NX;
  if (va >= DATA && va < DATA + DATA_RW_SIZE) return frame | PTE_RW | PTE_NX;
  if (va >= DATA && va < DATA + DATA_SIZE) return frame | PTE_NX;
  return 0n;
}

/**
 * The state as the host reports it: through XSAVE, which on AMD CPUs stores the x87 opcode and
 * pointers only while an exception is pending (FSW.ES), as the engine's FXSAVE does.
 */
function savedView(fpu: Fpu): Fpu {
  if ((fpu.fsw & 0x80) !== 0) return fpu;
  return { ...fpu, lastOpcode: 0, lastIp: 0n, lastDp: 0n };
}

/** Runs cases in the software engine. */
export class SnippetRunner {
  readonly #vcpu: Vcpu;
  readonly #mem: GuestMemory;
  readonly #regions: { at: number; now: Uint32Array; initial: Uint32Array }[];

  private constructor(vcpu: Vcpu, mem: GuestMemory) {
    this.#vcpu = vcpu;
    this.#mem = mem;
    const view = (at: number, size: number): Uint32Array =>
      new Uint32Array(mem.bytes.buffer, mem.bytes.byteOffset + at, size / 4);
    this.#regions = [
      { at: STACK, now: view(STACK, STACK_SIZE), initial: patternWords(STACK, STACK_SIZE) },
      { at: DATA, now: view(DATA, DATA_SIZE), initial: patternWords(DATA, DATA_SIZE) },
    ];
    mem.fill(CODE, CODE_SIZE, 0xcc);
    for (const r of this.#regions) r.now.set(r.initial);
  }

  /** A VM set up for snippets: long mode, user segments, scratch pages mapped for CPL 3. */
  static async create(): Promise<SnippetRunner> {
    const vm = await new SoftHypervisor().createVm({ memorySize: RAM_SIZE });
    const mem = vm.memory;
    const vcpu = vm.createVcpu(0, refuseIo);
    const { sregs } = setupLongMode(mem, { entry: BigInt(CODE) });
    // User access must be allowed at every level of the walk.
    mem.write64(PML4_START, mem.read64(PML4_START) | PTE_US);
    mem.write64(PDPTE_START, mem.read64(PDPTE_START) | PTE_US);
    // Nothing but the scratch pages is mapped, as in the harness process below 4 GiB.
    mem.fill(PDE_START, PDE_COUNT * 4096, 0);
    mem.write64(PDE_START + 8, BigInt(SCRATCH_PT) | PTE_P | PTE_RW | PTE_US);
    for (let i = 0; i < 512; i++)
      mem.write64(SCRATCH_PT + i * 8, scratchPte(0x20_0000 + i * 0x1000));
    const user = { dpl: 3 };
    vcpu.setSregs({
      ...sregs,
      cs: { ...sregs.cs, ...user, selector: USER_CS },
      ss: { ...sregs.ss, ...user, selector: USER_DS },
      ds: { ...sregs.ds, ...user, selector: USER_DS },
      es: { ...sregs.es, ...user, selector: USER_DS },
      cr4: sregs.cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT,
    });
    return new SnippetRunner(vcpu, mem);
  }

  /** Runs one case and restores the scratch regions. */
  run(c: Case): Outcome {
    const code = codePatches(c, false);
    for (const p of code) this.#write(p.addr, p.bytes, inCode);
    for (const p of c.patches) this.#write(p.addr, p.bytes, inPatterned);
    const regs = { rip: BigInt(c.rip), rflags: c.rflags | RFLAGS_USER } as Regs;
    GPR_NAMES.forEach((name, i) => {
      regs[name] = c.regs[i] ?? 0n;
    });
    this.#vcpu.setRegs(regs);
    const image = c.fpu ?? RESET_IMAGE;
    this.#vcpu.setFpu(c.fpu === undefined ? RESET_FPU : imageToFpu(c.fpu));
    const exit = this.#vcpu.run(BUDGET);
    const after = this.#vcpu.getRegs();
    let outcome: Outcome;
    const base = {
      rip: after.rip,
      rflags: after.rflags,
      regs: GPR_NAMES.map((name) => after[name]),
      memory: this.#memoryDiff(),
      fpu: imageDiff(image, fpuToImage(savedView(this.#vcpu.getFpu()))),
    };
    if (exit.kind === 'exception') {
      outcome = {
        ...base,
        signal: signalOf(exit.vector),
        vector: exit.vector,
        errorCode: BigInt(exit.errorCode ?? 0),
        cr2: exit.cr2,
      };
    } else {
      outcome = { ...base, signal: -1, vector: -1, errorCode: 0n, cr2: 0n };
    }
    for (const p of code) this.#write(p.addr, new Uint8Array(p.bytes.length).fill(0xcc), inCode);
    return outcome;
  }

  /** Writes the bytes of `bytes` whose addresses pass `where` (the others are unmapped). */
  #write(addr: number, bytes: Uint8Array, where: (a: number) => boolean): void {
    if (where(addr) && where(addr + bytes.length - 1)) {
      this.#mem.write(addr, bytes);
      return;
    }
    bytes.forEach((b, i) => {
      if (where(addr + i)) this.#mem.write8(addr + i, b);
    });
  }

  /** The changed words of STACK and DATA in the harness's format; restores them. */
  #memoryDiff(): string {
    let out = '';
    for (const { at, now, initial } of this.#regions) {
      for (let i = 0; i < now.length; i += 2) {
        if (now[i] === initial[i] && now[i + 1] === initial[i + 1]) continue;
        const v = (BigInt(now[i + 1] ?? 0) << 32n) | BigInt(now[i] ?? 0);
        out += `${out === '' ? '' : ','}${(at + i * 4).toString(16)}:${v.toString(16)}`;
        now[i] = initial[i] ?? 0;
        now[i + 1] = initial[i + 1] ?? 0;
      }
    }
    return out === '' ? '-' : out;
  }
}
