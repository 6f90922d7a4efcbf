/**
 * Scaled sizes as OpenBSD's scan_scaled(3) reads them and vm.conf and vmctl accept them:
 * a whole number with an optional unit B, K, M, G, T, P or E (either case, powers of 1024).
 */

const UNITS: Record<string, number> = { B: 0, K: 10, M: 20, G: 30, T: 40, P: 50, E: 60 };

/** Parses a scaled size into bytes; throws a RangeError that quotes the input. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)\s*([bkmgtpe])?\s*$/i.exec(text);
  if (m === null) throw new RangeError(`invalid size "${text}"`);
  const digits = m[1] ?? '';
  const unit = (m[2] ?? 'B').toUpperCase();
  const bytes = BigInt(digits) << BigInt(UNITS[unit] ?? 0);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`size "${text}" is too large`);
  return Number(bytes);
}
