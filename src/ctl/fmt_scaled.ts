/**
 * fmt_scaled(3) of OpenBSD's libutil, which vmctl uses for the MAXMEM and CURMEM columns and
 * its size messages: at most three significant digits and a unit (B, K, M, G, T, P, E in
 * powers of 1024), with one decimal below 100 of a unit (`512M`, `1.0G`, `1.5G`, `100B`).
 */

const UNITS = 'BKMGTPE';

/** The most bytes fmt_scaled formats; it refuses 1024 EiB and more (ERANGE). */
const LIMIT = 1024n ** 7n;

/**
 * Formats `bytes` (a whole number, at least 0) as fmt_scaled(3) does. Numbers fmt_scaled
 * refuses are written in bytes with the unit B.
 */
export function fmtScaled(bytes: number | bigint): string {
  const value = BigInt(bytes);
  if (value < 0n || value >= LIMIT) return `${value}B`;
  // The largest unit of which the value holds less than 1024 * 1024 (i.e. value / 1024 < unit).
  let unit = 0;
  while (unit < UNITS.length - 1 && value / 1024n >= 1024n ** BigInt(unit)) unit++;
  if (unit === 0) return value === 0n ? '0B' : `${value}B`;
  const scale = 1024n ** BigInt(unit);
  let whole = value / scale;
  // The remainder in units of the next smaller unit, then rounded to tenths.
  let tenths = (((value % scale) / (scale / 1024n)) * 10n + 512n) / 1024n;
  if (tenths >= 10n) {
    whole++;
    tenths = 0n;
  }
  const letter = UNITS.charAt(unit);
  if (whole >= 100n) return `${tenths >= 5n ? whole + 1n : whole}${letter}`;
  return `${whole}.${tenths}${letter}`;
}
