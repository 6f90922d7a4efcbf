// CPUID (SDM Vol. 2, CPUID; AMD APM Vol. 3, appendix E). A small, honest feature set in the
// spirit of OpenBSD vmm(4): only what the engine implements is advertised, with the
// hypervisor bit set. No APIC, MTRR, MCE or PCID.

import { RAX, RBX, RCX, RDX, regN, setRegN } from './state';

// Leaf 1 EDX (SDM Vol. 2, Table 3-11).
const FPU: u32 = 1 << 0;
const TSC: u32 = 1 << 4;
const MSR: u32 = 1 << 5;
const PAE: u32 = 1 << 6;
const CX8: u32 = 1 << 8;
const PGE: u32 = 1 << 13;
const CMOV: u32 = 1 << 15;
const FXSR: u32 = 1 << 24;
const SSE: u32 = 1 << 25;
const SSE2: u32 = 1 << 26;
// Leaf 1 ECX.
const HYPERVISOR: u32 = 1 << 31;
// Leaf 0x80000001 ECX: LAHF/SAHF in 64-bit mode (every AMD64 CPU but the earliest has it;
// KVM hosts pass it through, so both engines show the same).
const LAHF_LM: u32 = 1 << 0;
// Leaf 0x80000001 EDX.
const SYSCALL: u32 = 1 << 11;
const NX: u32 = 1 << 20;
const LM: u32 = 1 << 29;
// Leaf 0x80000007 EDX.
const INVARIANT_TSC: u32 = 1 << 8;

/** Four little-endian ASCII characters as a register value. */
function chars(s: string, at: i32): u32 {
  let v: u32 = 0;
  for (let i = 0; i < 4; i++) v |= ((<u32>s.charCodeAt(at + i)) & 0xff) << (8 * i);
  return v;
}

function set(a: u32, b: u32, c: u32, d: u32): void {
  setRegN(RAX, 4, a);
  setRegN(RBX, 4, b);
  setRegN(RCX, 4, c);
  setRegN(RDX, 4, d);
}

/** Leaf 1 EAX: extended model 6, family 0xf, model 0xb, stepping 1. */
const SIGNATURE: u32 = 0x0006_0fb1;

const BRAND = 'vmd x86-64 software CPU                         ';

/** Executes CPUID for the leaf in EAX (and subleaf in ECX). */
export function cpuid(): void {
  const leaf = <u32>regN(RAX, 4);
  switch (leaf) {
    case 0:
      set(0xd, chars('Auth', 0), chars('cAMD', 0), chars('enti', 0));
      break;
    // Family 0xf, model 0x6b, stepping 1 (an AMD64 of the K8 line, as QEMU's qemu64): a
    // family Linux knows without the errata and speculation workarounds of later cores.
    // CLFLUSH line size 8 qwords, 1 logical CPU.
    case 1:
      set(
        SIGNATURE,
        (8 << 8) | (1 << 16),
        HYPERVISOR,
        FPU | TSC | MSR | PAE | CX8 | PGE | CMOV | FXSR | SSE | SSE2,
      );
      break;
    case 0x4000_0000:
      set(0x4000_0000, chars('vmd ', 0), chars('soft', 0), chars(' x86', 0));
      break;
    case 0x8000_0000:
      set(0x8000_0008, chars('Auth', 0), chars('cAMD', 0), chars('enti', 0));
      break;
    case 0x8000_0001:
      set(SIGNATURE, 0, LAHF_LM, SYSCALL | NX | LM);
      break;
    case 0x8000_0002:
    case 0x8000_0003:
    case 0x8000_0004: {
      const at = <i32>(leaf - 0x8000_0002) * 16;
      set(chars(BRAND, at), chars(BRAND, at + 4), chars(BRAND, at + 8), chars(BRAND, at + 12));
      break;
    }
    case 0x8000_0007:
      set(0, 0, 0, INVARIANT_TSC);
      break;
    // 40 physical and 48 linear address bits.
    case 0x8000_0008:
      set(0x3028, 0, 0, 0);
      break;
    default:
      set(0, 0, 0, 0);
      break;
  }
}
