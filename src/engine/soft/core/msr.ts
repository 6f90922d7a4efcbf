// Model-specific registers and the instructions built on them: RDMSR/WRMSR, RDTSC, SYSCALL/
// SYSRET and SWAPGS (SDM Vol. 2 pages of the same names; Vol. 4 for the MSR numbers). The TSC
// runs at 1 GHz on the machine's virtual clock, so the VMM knows its rate exactly.

import {
  S_STAR, S_LSTAR, S_CSTAR, S_SFMASK, S_KERNEL_GS_BASE, S_SYSENTER_CS, S_SYSENTER_ESP,
  S_SYSENTER_EIP, S_TSC_OFFSET, S_PAT, S_HWCR, getSlot, setSlot, reg64, setReg64, regN, setRegN,
  nextRip, setNextRip, efer, setEfer, cr0, cr4, cpl, mode,
  RAX, RCX, RDX, SEG_CS, SEG_SS, SEG_FS, SEG_GS, EFER_LME, EFER_LMA, EFER_NXE, CR0_PG, CR4_TSD,
} from './state';
import { getFlags, setFlags } from './flags';
import { canonical, flushTlb } from './mmu';
import { raiseGP, raiseUD } from './exceptions';
import { setSegment, setFsGsBase, A_S, A_P, A_L, A_DB, A_G } from './descriptors';
import { dOsize } from './decode';
import { segBase } from './state';


@external('env', 'clockNs') declare function clockNs(): f64;

// MSR numbers (SDM Vol. 4, Table 2-2; AMD APM Vol. 2, Appendix A).
const MSR_TSC: u32 = 0x10;
const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;
const MSR_PAT: u32 = 0x277;
const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/** AMD microcode patch level: reads 0 (no microcode). */
const MSR_PATCH_LEVEL: u32 = 0x8b;
/** AMD interrupt-pending message (C1E, erratum 400): reads 0, C1E never in use. */
const MSR_INT_PENDING_MSG: u32 = 0xc001_0055;
/** AMD hardware configuration (HWCR): kept, with no effect. */
const MSR_HWCR: u32 = 0xc001_0015;

const EFER_SCE: u64 = 1;
/** EFER bits a guest may set: SCE, LME, NXE (LMA is read-only). */
const EFER_WRITABLE: u64 = EFER_SCE | EFER_LME | EFER_NXE;

/** The TSC: virtual nanoseconds plus the guest's offset. */
export function tsc(): u64 {
  return <u64>clockNs() + getSlot(S_TSC_OFFSET);
}

/** Reads MSR `n`; returns false for an MSR the CPU does not have (the caller raises #GP). */
function readMsr(n: u32): u64 {
  switch (n) {
    case MSR_TSC: return tsc();
    case MSR_SYSENTER_CS: return getSlot(S_SYSENTER_CS);
    case MSR_SYSENTER_ESP: return getSlot(S_SYSENTER_ESP);
    case MSR_SYSENTER_EIP: return getSlot(S_SYSENTER_EIP);
    case MSR_PAT: return getSlot(S_PAT);
    case MSR_EFER: return efer;
    case MSR_STAR: return getSlot(S_STAR);
    case MSR_LSTAR: return getSlot(S_LSTAR);
    case MSR_CSTAR: return getSlot(S_CSTAR);
    case MSR_SFMASK: return getSlot(S_SFMASK);
    case MSR_FS_BASE: return segBase(SEG_FS);
    case MSR_GS_BASE: return segBase(SEG_GS);
    case MSR_KERNEL_GS_BASE: return getSlot(S_KERNEL_GS_BASE);
    case MSR_PATCH_LEVEL:
    case MSR_INT_PENDING_MSG:
      return 0;
    case MSR_HWCR: return getSlot(S_HWCR);
    default: raiseGP(0);
  }
  return 0;
}

function writeMsr(n: u32, v: u64): void {
  switch (n) {
    case MSR_TSC: setSlot(S_TSC_OFFSET, v - <u64>clockNs()); break;
    case MSR_SYSENTER_CS: setSlot(S_SYSENTER_CS, v & 0xffff); break;
    case MSR_SYSENTER_ESP: setSlot(S_SYSENTER_ESP, v); break;
    case MSR_SYSENTER_EIP: setSlot(S_SYSENTER_EIP, v); break;
    case MSR_PAT: setSlot(S_PAT, v); break;
    case MSR_EFER: writeEfer(v); break;
    case MSR_STAR: setSlot(S_STAR, v); break;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_KERNEL_GS_BASE:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
      if (!canonical(v)) raiseGP(0);
      if (n == MSR_LSTAR) setSlot(S_LSTAR, v);
      else if (n == MSR_CSTAR) setSlot(S_CSTAR, v);
      else if (n == MSR_KERNEL_GS_BASE) setSlot(S_KERNEL_GS_BASE, v);
      else setFsGsBase(n == MSR_FS_BASE ? SEG_FS : SEG_GS, v);
      break;
    case MSR_SFMASK: setSlot(S_SFMASK, v & 0xffff_ffff); break;
    case MSR_HWCR: setSlot(S_HWCR, v); break;
    default: raiseGP(0);
  }
}

/** EFER: reserved bits #GP; LME may not change while paging is on; LMA is kept. */
function writeEfer(v: u64): void {
  if ((v & ~(EFER_WRITABLE | EFER_LMA)) != 0) raiseGP(0);
  if ((cr0 & CR0_PG) != 0 && ((v ^ efer) & EFER_LME) != 0) raiseGP(0);
  const next = (v & EFER_WRITABLE) | (efer & EFER_LMA);
  if (((next ^ efer) & EFER_NXE) != 0) flushTlb();
  setEfer(next);
}

/** 0F 32: RDMSR. */
export function rdmsr(d: usize): void {
  if (cpl != 0) raiseGP(0);
  const v = readMsr(<u32>regN(RCX, 4));
  setRegN(RAX, 4, v & 0xffff_ffff);
  setRegN(RDX, 4, v >> 32);
}

/** 0F 30: WRMSR. */
export function wrmsr(d: usize): void {
  if (cpl != 0) raiseGP(0);
  writeMsr(<u32>regN(RCX, 4), (regN(RDX, 4) << 32) | regN(RAX, 4));
}

/** 0F 31: RDTSC (CR4.TSD restricts it to CPL 0). */
export function rdtsc(d: usize): void {
  if ((cr4 & CR4_TSD) != 0 && cpl != 0) raiseGP(0);
  const v = tsc();
  setRegN(RAX, 4, v & 0xffff_ffff);
  setRegN(RDX, 4, v >> 32);
}

// The flat segments SYSCALL and SYSRET load (SDM SYSCALL/SYSRET: fixed base 0, limit 4 GiB).
const CODE64: u64 = 0xb | A_S | A_P | A_L | A_G;
const CODE32: u64 = 0xb | A_S | A_P | A_DB | A_G;
const DATA: u64 = 0x3 | A_S | A_P | A_DB | A_G;

/** 0F 05: SYSCALL from 64-bit or compatibility mode. */
export function syscall(d: usize): void {
  if ((efer & EFER_SCE) == 0 || (efer & EFER_LMA) == 0) raiseUD();
  // CS = STAR[47:32] with RPL cleared, SS = STAR[47:32] + 8 as it stands (SDM SYSCALL).
  const star = getSlot(S_STAR);
  const base = <u32>(star >> 32) & 0xffff;
  const sel = base & 0xfffc;
  const target = getSlot(mode == 64 ? S_LSTAR : S_CSTAR);
  setReg64(RCX, nextRip);
  const flags = getFlags();
  setReg64(11, flags & ~(<u64>1 << 16));
  setFlags(flags & ~getSlot(S_SFMASK) & ~(<u64>1 << 16));
  setSegment(SEG_SS, (base + 8) & 0xffff, 0, 0xffff_ffff, DATA);
  setSegment(SEG_CS, sel, 0, 0xffff_ffff, CODE64);
  setNextRip(target);
}

/** 0F 07: SYSRET to 64-bit (REX.W) or compatibility mode, CPL 3. */
export function sysret(d: usize): void {
  if ((efer & EFER_SCE) == 0 || mode != 64) raiseUD();
  if (cpl != 0) raiseGP(0);
  const to64 = dOsize(d) == 8;
  const rcx = reg64(RCX);
  if (to64 && !canonical(rcx)) raiseGP(0);
  const base = <u32>(getSlot(S_STAR) >> 48) & 0xffff;
  setFlags((reg64(11) & 0x3c_7fd7) | 2);
  setSegment(SEG_SS, ((base + 8) & 0xfffc) | 3, 0, 0xffff_ffff, DATA | (3 << 5));
  if (to64) {
    setSegment(SEG_CS, ((base + 16) & 0xfffc) | 3, 0, 0xffff_ffff, CODE64 | (3 << 5));
    setNextRip(rcx);
  } else {
    setSegment(SEG_CS, (base & 0xfffc) | 3, 0, 0xffff_ffff, CODE32 | (3 << 5));
    setNextRip(rcx & 0xffff_ffff);
  }
}

/** 0F 01 F8: SWAPGS exchanges GS's base with IA32_KERNEL_GS_BASE. */
export function swapgs(): void {
  if (mode != 64) raiseUD();
  if (cpl != 0) raiseGP(0);
  const kernel = getSlot(S_KERNEL_GS_BASE);
  setSlot(S_KERNEL_GS_BASE, segBase(SEG_GS));
  setFsGsBase(SEG_GS, kernel);
}

