/**
 * Operand shaping for the SSE/SSE2 floating-point forms: edge-biased binary32/binary64 lanes
 * (signed zeros, infinities, QNaNs and SNaNs with payloads, denormals, the smallest and largest
 * normals, ties, the integer conversion boundaries), operand pairs that cancel, tie or land at
 * the overflow and underflow thresholds, and an MXCSR drawn over every rounding mode, DAZ and
 * FTZ on and off, exception masks mostly set and sticky flags mostly clear (so that both the
 * engine's exact path and its fast path run).
 *
 * RCPPS/RCPSS/RSQRTPS/RSQRTSS results are implementation-specific (SDM: |relative error| ≤
 * 1.5 × 2^−12); their lanes are compared within that bound (compare.ts), not bit for bit.
 */

import type { OpcodeForm } from '../../src/engine/soft/x86_table.js';
import { setMem, targetAddr } from './draft.js';
import type { Draft } from './draft.js';
import { resetImage } from './fpu_state.js';
import type { Rng } from './rand.js';
import type { Shaper } from './shapers.js';

/** A binary format: exponent and fraction widths. */
interface Format {
  readonly bits: 32 | 64;
  readonly frac: bigint;
  readonly expMax: bigint;
  readonly bias: bigint;
}

const F32: Format = { bits: 32, frac: 23n, expMax: 0xffn, bias: 127n };
const F64: Format = { bits: 64, frac: 52n, expMax: 0x7ffn, bias: 1023n };

function pack(f: Format, sign: bigint, exp: bigint, frac: bigint): bigint {
  return (sign << BigInt(f.bits - 1)) | (exp << f.frac) | (frac & ((1n << f.frac) - 1n));
}

function randomBits(r: Rng, n: bigint): bigint {
  return r.u64() & ((1n << n) - 1n);
}

/** A significand fraction: random, or with only a few leading bits (exact results are likely). */
function fraction(r: Rng, f: Format): bigint {
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.5) return randomBits(r, f.frac);
  if (p < 0.8) {
    const keep = BigInt(r.range(1, 8));
    return randomBits(r, keep) << (f.frac - keep);
  }
  return r.pick([0n, 1n, (1n << f.frac) - 1n, 1n << (f.frac - 1n), (1n << f.frac) - 2n]);
}

/** Values where conversions to integers change behaviour, as binary64 numbers. */
const INT_EDGES = [
  0.5,
  1.5,
  2.5,
  -0.5,
  -1.5,
  0.49999999999999994,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 31 - 0.5,
  2 ** 31 - 128,
  -(2 ** 31),
  -(2 ** 31) - 0.5,
  -(2 ** 31) - 1,
  -(2 ** 31) + 0.5,
  2 ** 32,
  2 ** 63,
  -(2 ** 63),
  2 ** 63 - 1024,
  -(2 ** 63) - 2048,
  2 ** 64,
  2 ** 24 + 1,
  2 ** 53 + 2,
  1e10,
  -1e10,
];

function fromNumber(f: Format, v: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  if (f.bits === 64) {
    view.setFloat64(0, v, true);
    return view.getBigUint64(0, true);
  }
  view.setFloat32(0, v, true);
  return BigInt(view.getUint32(0, true));
}

function toNumber(f: Format, bits: bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  if (f.bits === 64) {
    view.setBigUint64(0, bits, true);
    return view.getFloat64(0, true);
  }
  view.setUint32(0, Number(bits), true);
  return view.getFloat32(0, true);
}

/** The thresholds of binary32 and binary64 rounding: smallest normal, largest finite. */
const THRESHOLDS: Readonly<Record<32 | 64, readonly number[]>> = {
  32: [2 ** -126, 2 ** -127, 2 ** -149, 2 ** 128 * (1 - 2 ** -25)],
  64: [2 ** -1022, 2 ** -1023, 2 ** -1074, Number.MAX_VALUE],
};

/** A value within a few units in the last place of `c` (in the narrowest format used). */
function near(r: Rng, f: Format, c: number): bigint {
  const bits = fromNumber(f, c * (1 + r.range(-4, 4) * 2 ** -26));
  const mask = (1n << BigInt(f.bits)) - 1n;
  return (bits + BigInt(r.range(-2, 2))) & mask;
}

/** An edge-biased lane of format `f`, as its bit pattern. */
function floatLane(r: Rng, f: Format): bigint {
  const sign = r.chance(0.5) ? 1n : 0n;
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.04) {
    // At the binary32 thresholds, which binary64 values narrow to (CVTSD2SS, CVTPD2PS).
    const v = near(r, f, r.pick(THRESHOLDS[32]));
    return v | (sign << BigInt(f.bits - 1));
  }
  if (p < 0.3) {
    const frac = (1n << f.frac) - 1n;
    switch (r.int(12)) {
      case 0:
        return pack(f, sign, 0n, 0n);
      case 1:
        return pack(f, sign, f.expMax, 0n);
      case 2: // QNaN: the indefinite or a payload
        return pack(
          f,
          sign,
          f.expMax,
          (1n << (f.frac - 1n)) | (r.chance(0.5) ? 0n : randomBits(r, f.frac)),
        );
      case 3: // SNaN with a non-zero payload
        return pack(f, sign, f.expMax, (randomBits(r, f.frac - 1n) | 1n) << BigInt(r.int(2)));
      case 4:
        return pack(f, sign, 0n, r.pick([1n, frac, randomBits(r, f.frac) | 1n]));
      case 5:
        return pack(f, sign, r.pick([1n, 2n]), r.pick([0n, 1n, frac, randomBits(r, f.frac)]));
      case 6:
        return pack(
          f,
          sign,
          f.expMax - r.pick([1n, 2n]),
          r.pick([0n, frac, randomBits(r, f.frac)]),
        );
      case 7:
      case 8:
        return fromNumber(f, r.pick(INT_EDGES) * (r.chance(0.2) ? -1 : 1));
      case 9:
        return pack(f, sign, f.bias, r.pick([0n, 1n, 1n << (f.frac - 1n), frac]));
      default: // at the edge of the denormal range
        return pack(f, sign, BigInt(r.range(0, 3)), randomBits(r, f.frac));
    }
  }
  if (p < 0.75) {
    // Exponents near 1.0, so that operands overlap.
    const span = r.pick([2, 8, 30]);
    return pack(f, sign, f.bias + BigInt(r.range(-span, span)), fraction(r, f));
  }
  if (p < 0.85) {
    const exp = r.chance(0.5) ? BigInt(r.range(0, 40)) : f.expMax - BigInt(r.range(1, 40));
    return pack(f, sign, exp, fraction(r, f));
  }
  return randomBits(r, BigInt(f.bits));
}

/**
 * A second operand for `a`: near it (cancellation, equality, quotients near 1), at a
 * magnitude that takes a product or quotient to the overflow or underflow threshold, or
 * independent.
 */
function partner(r: Rng, f: Format, a: bigint): bigint {
  const bits = BigInt(f.bits);
  const expOf = (x: bigint): bigint => (x >> f.frac) & f.expMax;
  const e = expOf(a);
  const p = r.u32() / 0x1_0000_0000;
  if (p < 0.2 && e > 0n && e < f.expMax) {
    const delta = BigInt(r.range(-3, 3));
    const sign = r.chance(0.5) ? 1n << (bits - 1n) : 0n;
    return ((a & ((1n << (bits - 1n)) - 1n)) + delta) | sign;
  }
  if (p < 0.3 && e > 0n && e < f.expMax) {
    // A product or quotient within a few ulps of a threshold of the format.
    const c = r.pick(THRESHOLDS[f.bits]);
    const x = toNumber(f, a & ((1n << BigInt(f.bits - 1)) - 1n));
    const b = near(r, f, r.chance(0.5) ? c / x : x / c);
    return b | (r.chance(0.5) ? 1n << (bits - 1n) : 0n);
  }
  if (p < 0.4 && e > 0n && e < f.expMax) {
    // eA + eB − bias (products) or eA − eB + bias (quotients) at an edge of the range.
    const low = f.bits === 32 ? -26 : -55;
    const target = r.chance(0.5) ? BigInt(r.range(low, 2)) : f.expMax - 1n + BigInt(r.range(-1, 1));
    const product = r.chance(0.5);
    let eb = product ? target - e + f.bias : e - target + f.bias;
    if (eb < 1n) eb = 1n;
    if (eb >= f.expMax) eb = f.expMax - 1n;
    return pack(f, r.chance(0.5) ? 1n : 0n, eb, fraction(r, f));
  }
  return floatLane(r, f);
}

/** Lanes of `f` for 16 bytes: independent, or each a partner of the same lane of `of`. */
function lanes(r: Rng, f: Format, of?: bigint): bigint {
  const n = 128 / f.bits;
  const mask = (1n << BigInt(f.bits)) - 1n;
  let v = 0n;
  for (let i = 0; i < n; i++) {
    const shift = BigInt(i * f.bits);
    const lane = of === undefined ? floatLane(r, f) : partner(r, f, (of >> shift) & mask);
    v |= lane << shift;
  }
  return v;
}

/** An MXCSR for a floating-point case. */
function fpMxcsr(r: Rng): number {
  const rc = r.chance(0.4) ? 0 : r.range(1, 3);
  let masks = 0x3f;
  if (r.chance(0.3)) for (let b = 0; b < 6; b++) if (r.chance(0.3)) masks &= ~(1 << b);
  const p = r.u32() / 0x1_0000_0000;
  const flags = p < 0.5 ? 0 : p < 0.8 ? 0x20 : r.int(0x40);
  const daz = r.chance(0.3) ? 0x40 : 0;
  const ftz = r.chance(0.3) ? 0x8000 : 0;
  return (rc << 13) | (masks << 7) | daz | ftz | flags;
}

function xmmWrite(d: Draft, n: number, v: bigint): void {
  const view = new DataView((d.fpu ??= resetImage()).buffer);
  view.setBigUint64(160 + 16 * n, BigInt.asUintN(64, v), true);
  view.setBigUint64(168 + 16 * n, BigInt.asUintN(64, v >> 64n), true);
}

/** The format of an operand in SDM notation (ps/ss single, pd/sd double), if a float one. */
function formatOf(operand: string | undefined): Format | undefined {
  if (operand === undefined) return undefined;
  if (/(ps|ss)$/.test(operand)) return F32;
  if (/(pd|sd)$/.test(operand)) return F64;
  return undefined;
}

/** Source formats of the forms whose operand notation does not say it (64-bit reads). */
const SOURCE_FORMAT: Readonly<Record<string, Format>> = { cvtps2pd: F32 };

/** Bytes the W operand reads from memory. */
function sourceBytes(operand: string): number {
  if (operand.endsWith('ss')) return 4;
  if (operand.endsWith('sd') || operand === 'Wq') return 8;
  return 16;
}

/** The approximate lanes of the RCP/RSQRT forms: lanes compared within the SDM's bound. */
const APPROX: Readonly<Record<string, { lanes: number; kind: 'rcp' | 'rsqrt' }>> = {
  rcpPs: { lanes: 4, kind: 'rcp' },
  rcpSs: { lanes: 1, kind: 'rcp' },
  rsqrtPs: { lanes: 4, kind: 'rsqrt' },
  rsqrtSs: { lanes: 1, kind: 'rsqrt' },
};

/**
 * Shapes a floating-point case: float lanes in the destination (when it is read) and the
 * source, the source often a partner of the destination, and a floating-point MXCSR.
 */
function floatShaper(form: OpcodeForm): Shaper {
  const [dst, src] = form.operands;
  const srcFormat = SOURCE_FORMAT[form.handler] ?? formatOf(src);
  const dstFormat = formatOf(dst);
  const approx = APPROX[form.handler];
  return {
    post: (d) => {
      const r = d.rng;
      const img = (d.fpu ??= resetImage());
      new DataView(img.buffer).setUint32(24, fpMxcsr(r), true);
      if (approx !== undefined) d.approx = { reg: d.reg & 15, ...approx };
      let a: bigint | undefined;
      if (dstFormat !== undefined && dst?.startsWith('V') === true) {
        a = lanes(r, dstFormat);
        xmmWrite(d, d.reg & 15, a);
      }
      if (srcFormat === undefined || src === undefined) return;
      const b = lanes(r, srcFormat, srcFormat === dstFormat && r.chance(0.7) ? a : undefined);
      if (d.rm !== null) {
        if (src.startsWith('W')) xmmWrite(d, d.rm & 15, b);
        return;
      }
      const at = targetAddr(d);
      if (at === null) return;
      const n = sourceBytes(src);
      setMem(d, at, BigInt.asUintN(n * 8, b), Math.min(n, 8));
      if (n === 16) setMem(d, at + 8, b >> 64n, 8);
    },
  };
}

/** Shapers of the floating-point executors, by handler, from the forms of the table. */
export function floatShapers(forms: readonly OpcodeForm[]): Record<string, Shaper> {
  const out: Record<string, Shaper> = {};
  for (const form of forms) {
    const floats = form.operands.some((o) => formatOf(o) !== undefined);
    if (!floats || form.prefix === undefined) continue;
    if (/^(mov|unpck|shuf|and|or|xor)/.test(form.mnemonic)) continue;
    out[form.handler] ??= floatShaper(form);
  }
  return out;
}
