/**
 * Seeded random numbers for the differential test's case generator, biased towards the
 * values where integer instructions go wrong: 0, 1, -1, the sign boundaries of every width
 * and values whose arithmetic carries across 32 bits.
 */

/** The interesting values of a `bits`-wide operand, as unsigned bigints. */
function edges(bits: number): bigint[] {
  const max = (1n << BigInt(bits)) - 1n;
  const sign = 1n << BigInt(bits - 1);
  return [0n, 1n, 2n, sign - 1n, sign, sign + 1n, max - 1n, max];
}

const EDGES: Record<number, bigint[]> = {
  8: edges(8),
  16: edges(16),
  32: edges(32),
  64: edges(64),
};
const WIDTHS = [8, 16, 32, 64] as const;
const MASK64 = (1n << 64n) - 1n;

/** sfc32: a small, fast generator with a 128-bit state (PractRand-clean). */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    this.#a = 0x9e37_79b9;
    this.#b = 0x243f_6a88;
    this.#c = 0xb7e1_5162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** A uniformly random 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  /** A random element. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** A uniformly random 64-bit unsigned integer. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /**
   * An edge-biased 64-bit value: an edge of some width (sometimes with random bits above it),
   * a small number or its negation, a value next to a 32-bit carry, or uniformly random.
   */
  value(): bigint {
    const r = this.u32() / 0x1_0000_0000;
    if (r < 0.35) {
      const w = this.pick(WIDTHS);
      let v = this.pick(EDGES[w] ?? []);
      if (w < 64 && this.chance(0.5)) v |= this.u64() & (MASK64 << BigInt(w)) & MASK64;
      return v;
    }
    if (r < 0.45) return BigInt(this.int(17));
    if (r < 0.5) return MASK64 & -BigInt(this.range(1, 16));
    if (r < 0.6) {
      const low = BigInt(this.int(32));
      return this.pick([
        0xffff_ffffn - low,
        0x1_0000_0000n + low,
        0xffff_ffff_0000_0000n + low,
        0xffff_ffff_ffff_ff00n | low,
      ]);
    }
    return this.u64();
  }

  /** An edge-biased value truncated to `bits`. */
  valueBits(bits: number): bigint {
    return this.value() & ((1n << BigInt(bits)) - 1n);
  }
}
