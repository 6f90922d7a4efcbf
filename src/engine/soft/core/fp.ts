// IEEE 754 binary32/binary64 arithmetic as SSE/SSE2 define it (SDM Vol. 1, 4.8–4.9 and 11.5),
// for the executors in sse_fp.ts and sse_convert.ts. Wasm arithmetic rounds to nearest and
// reports nothing, so the engine computes what the CPU does on top of IEEE: MXCSR's rounding
// control, DAZ (denormal sources read as zero) and FTZ (tiny results flushed to zero while
// underflow is masked), the x86 NaN rules, and the six exception flags, including tininess
// detected after rounding, as x86 does. This file holds the mode and the exception record, the
// formats, unpacking and rounding; fp_arith.ts the operations.
//
// Two paths. The fast one runs when rounding to nearest with normal operands and a result whose
// exponent is clear of the underflow and overflow ranges: then the wasm result is the x86
// result, and only the inexact flag remains, decided by an exact check (skipped while PE is
// already set and masked). Everything else takes the exact path: the operands unpacked to
// 63-bit integer significands, an exact (or sticky) integer result, and one rounding routine.
//
// Formats are passed as `f`: 0 for single, 1 for double; values travel as bit patterns in u64.
// A lane records its exceptions with preFlag() (IE, DE, ZE: detected before computing) or
// postFlag() (OE, UE, PE); fpCommit() applies them to MXCSR once every lane is done, or raises
// #XM.

import { mxcsr, setMxcsr } from './sse';
import { raise, raiseUD, NO_ERROR_CODE } from './exceptions';
import { cr4 } from './state';

// MXCSR (SDM Vol. 1, 10.2.3).
export const MX_IE: u32 = 1 << 0;
export const MX_DE: u32 = 1 << 1;
export const MX_ZE: u32 = 1 << 2;
export const MX_OE: u32 = 1 << 3;
export const MX_UE: u32 = 1 << 4;
export const MX_PE: u32 = 1 << 5;
const MX_DAZ: u32 = 1 << 6;
const MX_MASK_SHIFT: u32 = 7;
const MX_PM: u32 = 1 << 12;
const MX_RC_SHIFT: u32 = 13;
const MX_FTZ: u32 = 1 << 15;

// Rounding control.
export const RC_NEAREST: u32 = 0;
export const RC_DOWN: u32 = 1;
export const RC_UP: u32 = 2;
export const RC_ZERO: u32 = 3;

export const EXC_XM: u32 = 19;
const CR4_OSXMMEXCPT: u64 = 1 << 10;

// Operations of arith32, arith64 and arithSlow (fp_arith.ts).
export const OP_ADD: u32 = 0;
export const OP_SUB: u32 = 1;
export const OP_MUL: u32 = 2;
export const OP_DIV: u32 = 3;

/**
 * The state of the instruction being executed, in linear memory rather than wasm globals: the
 * optimizer orders globals by their use count, so these would land among the run loop's own
 * and change how that loop is compiled.
 */
const FPS: usize = memory.data(48, 16);
/** IE, DE and ZE detected by the current instruction (pre-computation exceptions). */
const S_PRE: usize = 0;
/** OE, UE and PE detected by the current instruction (post-computation exceptions). */
const S_POST: usize = 4;
/** The instruction's rounding control, DAZ, FTZ and exception masks, from MXCSR. */
const S_RC: usize = 8;
const S_DAZ: usize = 12;
const S_FTZ: usize = 16;
const S_MASKS: usize = 20;
/** PE is set and masked already: the fast path need not decide exactness. */
const S_PE_KNOWN: usize = 24;
/** A denormal source was read (see source()). */
const S_DENORMAL: usize = 28;
/** The last unpack(). */
const S_EXP: usize = 32;
const S_SIG: usize = 40;

@inline export function preFlag(flag: u32): void {
  store<u32>(FPS + S_PRE, load<u32>(FPS + S_PRE) | flag);
}
@inline export function postFlag(flag: u32): void {
  store<u32>(FPS + S_POST, load<u32>(FPS + S_POST) | flag);
}
@inline export function fpRc(): u32 { return load<u32>(FPS + S_RC); }
@inline export function fpDaz(): bool { return load<u32>(FPS + S_DAZ) != 0; }
@inline function fpFtz(): bool { return load<u32>(FPS + S_FTZ) != 0; }
@inline function fpMasks(): u32 { return load<u32>(FPS + S_MASKS); }
@inline export function fpPeKnown(): bool { return load<u32>(FPS + S_PE_KNOWN) != 0; }
@inline export function clearDenormal(): void { store<u32>(FPS + S_DENORMAL, 0); }
@inline export function sawDenormal(): bool { return load<u32>(FPS + S_DENORMAL) != 0; }
@inline export function uExp(): i32 { return load<i32>(FPS + S_EXP); }
@inline export function uSig(): u64 { return load<u64>(FPS + S_SIG); }

/** Starts an instruction: takes the mode from MXCSR and clears the exception record. */
export function fpBegin(): void {
  const m = mxcsr();
  store<u64>(FPS + S_PRE, 0); // and S_POST
  store<u32>(FPS + S_RC, (m >> MX_RC_SHIFT) & 3);
  store<u32>(FPS + S_DAZ, m & MX_DAZ);
  store<u32>(FPS + S_FTZ, m & MX_FTZ);
  store<u32>(FPS + S_MASKS, (m >> MX_MASK_SHIFT) & 0x3f);
  store<u32>(FPS + S_PE_KNOWN, <u32>((m & (MX_PE | MX_PM)) == (MX_PE | MX_PM)));
}

/**
 * Ends an instruction whose lanes are computed (SDM Vol. 1, 11.5.1): an unmasked IE, DE or ZE
 * in any lane sets the pre-computation flags only and raises the exception; otherwise an
 * unmasked OE, UE or PE sets every flag and raises it; otherwise the flags are set and the
 * caller writes its results. Raising leaves the destination unchanged.
 */
export function fpCommit(): void {
  const unmasked = ~fpMasks() & 0x3f;
  const pre = load<u32>(FPS + S_PRE);
  if ((pre & unmasked) != 0) simdFault(pre);
  const all = pre | load<u32>(FPS + S_POST);
  if ((all & unmasked) != 0) simdFault(all);
  if (all != 0) setMxcsr(mxcsr() | all);
}

/** An unmasked SIMD floating-point exception: #XM with CR4.OSXMMEXCPT, else #UD. */
function simdFault(flags: u32): void {
  setMxcsr(mxcsr() | flags);
  if ((cr4 & CR4_OSXMMEXCPT) != 0) raise(EXC_XM, NO_ERROR_CODE);
  raiseUD();
}

// --- formats -----------------------------------------------------------------------------

@inline export function fracBits(f: u32): u32 { return f != 0 ? 52 : 23; }
@inline function bias(f: u32): i32 { return f != 0 ? 1023 : 127; }
@inline function expField(f: u32): u64 { return f != 0 ? 0x7ff : 0xff; }
@inline export function signOf(x: u64, f: u32): u32 { return <u32>(x >> (f != 0 ? 63 : 31)) & 1; }
@inline export function signBit(f: u32): u64 { return f != 0 ? <u64>1 << 63 : <u64>1 << 31; }
@inline export function fracMask(f: u32): u64 { return (<u64>1 << fracBits(f)) - 1; }
@inline function expOf(x: u64, f: u32): u64 { return (x >> fracBits(f)) & expField(f); }
@inline export function quietBit(f: u32): u64 { return <u64>1 << (fracBits(f) - 1); }
@inline export function infinity(f: u32): u64 { return expField(f) << fracBits(f); }
/** The QNaN floating-point indefinite (SDM Vol. 1, Table 4-3). */
@inline export function defaultNaN(f: u32): u64 {
  return f != 0 ? 0xfff8_0000_0000_0000 : 0xffc0_0000;
}
@inline function largest(f: u32): u64 { return infinity(f) - 1; }

@inline export function isNaN(x: u64, f: u32): bool {
  return expOf(x, f) == expField(f) && (x & fracMask(f)) != 0;
}
@inline export function isSNaN(x: u64, f: u32): bool {
  return isNaN(x, f) && (x & quietBit(f)) == 0;
}
@inline export function quiet(x: u64, f: u32): u64 { return x | quietBit(f); }
@inline export function isInf(x: u64, f: u32): bool { return (x & ~signBit(f)) == infinity(f); }
@inline export function isZero(x: u64, f: u32): bool { return (x & ~signBit(f)) == 0; }
@inline export function isDenormal(x: u64, f: u32): bool {
  return expOf(x, f) == 0 && (x & fracMask(f)) != 0;
}

/**
 * A source operand as the instruction reads it: a denormal becomes a zero of its sign under
 * DAZ, and otherwise is noted in `sawDenormal()` (DE, unless a higher-priority exception wins).
 */
export function source(x: u64, f: u32): u64 {
  if (!isDenormal(x, f)) return x;
  if (fpDaz()) return x & signBit(f);
  store<u32>(FPS + S_DENORMAL, 1);
  return x;
}

// --- exact arithmetic on unpacked values ------------------------------------------------------

/** Unpacks a finite non-zero value: uSig() × 2^(uExp() − 62), uSig() with bit 62 set. */
export function unpack(x: u64, f: u32): void {
  const F = fracBits(f);
  const e = <i32>expOf(x, f);
  const m = x & fracMask(f);
  if (e == 0) {
    const s = <i32>clz<u64>(m) - 1;
    store<u64>(FPS + S_SIG, m << <u64>s);
    store<i32>(FPS + S_EXP, 1 - bias(f) + (62 - <i32>F) - s);
  } else {
    store<u64>(FPS + S_SIG, (m | (<u64>1 << F)) << <u64>(62 - F));
    store<i32>(FPS + S_EXP, e - bias(f));
  }
}

@inline export function shiftRightJam(x: u64, n: i32): u64 {
  if (n <= 0) return x;
  if (n >= 63) return <u64>(x != 0);
  return (x >> <u64>n) | <u64>((x << <u64>(64 - n)) != 0);
}

/** The increment that rounds the low `r` bits of a significand away, in mode fpRc(). */
@inline function roundIncrement(sign: u32, r: u32): u64 {
  const rc = fpRc();
  if (rc == RC_NEAREST) return <u64>1 << (r - 1);
  if (rc == RC_ZERO) return 0;
  return (rc == RC_DOWN) == (sign != 0) ? (<u64>1 << r) - 1 : 0;
}

/**
 * Rounds sign × sig × 2^(exp − 62) (sig non-zero, its lowest bit sticky) to format `f` in mode
 * fpRc() and packs it, recording OE, UE and PE (SDM Vol. 1, 4.9.1.4–4.9.1.6): overflow gives
 * infinity or the largest finite value by the rounding direction; tininess is detected after
 * rounding; FTZ flushes a tiny result (exact or not) to zero with UE and PE while underflow is
 * masked; an unmasked OE or UE reports that flag alone.
 */
export function roundPack(sign: u32, exp: i32, sig: u64, f: u32): u64 {
  if (sig >= <u64>1 << 63) {
    sig = (sig >> 1) | (sig & 1);
    exp++;
  } else {
    const s = <i32>clz<u64>(sig) - 1;
    sig <<= <u64>s;
    exp -= s;
  }
  const F = fracBits(f);
  const R: u32 = 62 - F;
  const roundMask: u64 = (<u64>1 << R) - 1;
  const half: u64 = <u64>1 << (R - 1);
  const emin = 1 - bias(f);
  const inc = roundIncrement(sign, R);
  const signed = <u64>sign << (f != 0 ? 63 : 31);
  // An unmasked OE or UE reports PE when rounding to full precision alone is inexact.
  const fullPE: u32 = (sig & roundMask) != 0 ? MX_PE : 0;
  let tiny = false;
  if (exp < emin) {
    // Tiny when the result rounded to full precision, with an unbounded exponent, is still
    // below the smallest normal number.
    if (exp < emin - 1) tiny = true;
    else {
      let t = (sig + inc) >> R;
      if (fpRc() == RC_NEAREST && (sig & roundMask) == half) t &= ~(<u64>1);
      tiny = t < <u64>1 << (F + 1);
    }
    sig = shiftRightJam(sig, emin - exp);
    exp = emin;
  }
  const rest = sig & roundMask;
  let m = (sig + inc) >> R;
  if (fpRc() == RC_NEAREST && rest == half) m &= ~(<u64>1);
  if (m >= <u64>1 << (F + 1)) {
    m >>= 1;
    exp++;
  }
  if (exp > bias(f)) {
    if ((fpMasks() & MX_OE) == 0) {
      postFlag(MX_OE | fullPE);
      return signed | infinity(f);
    }
    postFlag(MX_OE | MX_PE);
    const rc = fpRc();
    const toInf = rc == RC_NEAREST || (rc == RC_UP && sign == 0) || (rc == RC_DOWN && sign != 0);
    return signed | (toInf ? infinity(f) : largest(f));
  }
  if (tiny) {
    if ((fpMasks() & MX_UE) == 0) {
      postFlag(MX_UE | fullPE);
      return signed;
    }
    if (fpFtz()) {
      postFlag(MX_UE | MX_PE);
      return signed;
    }
    if (rest != 0) postFlag(MX_UE | MX_PE);
  } else if (rest != 0) {
    postFlag(MX_PE);
  }
  // A significand below 2^F is a denormal (or zero): exponent field 0.
  if (m < <u64>1 << F) return signed | m;
  return signed | (<u64>(exp + bias(f)) << F) | (m & fracMask(f));
}
