/**
 * The I/O bus: routes every guest port and MMIO access the engine reports to the device that
 * claimed it. Port I/O is vmd's `ioports_map[]` turned into a typed registry: a 65536-entry
 * table indexed by port, because the lookup runs on every guest `in`/`out`. MMIO ranges are
 * few and sparse, so they are a sorted list searched by bisection.
 *
 * Accesses nobody claimed behave as on a PC: reads float to all ones, writes vanish. They are
 * counted, and logged at debug level with a rate limit, because a guest probing absent
 * hardware (or Linux's io_delay writes to port 0x80) can issue millions of them.
 */

import { log } from '../common/log.js';
import type { IoHandler, MmioSize, PioSize } from '../engine/types.js';
import type { MmioDevice, PioDevice } from './types.js';

/** Number of x86 I/O ports. */
export const PIO_PORTS = 0x10000;

/** Highest guest-physical address the bus accepts plus one: doubles stay exact below it. */
export const MMIO_LIMIT = 2 ** 52;

/** Unclaimed accesses of each address that are logged one by one before summaries take over. */
export const LOG_FIRST_UNCLAIMED = 4;

/** What a read of `size` bytes returns when no device answers: the floating bus reads ones. */
export function allOnes(size: PioSize | MmioSize): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

/** The low `size` bytes of `value`, as an unsigned number. */
function truncate(value: number, size: PioSize | MmioSize): number {
  return size === 4 ? value >>> 0 : value & allOnes(size);
}

/** Counts of accesses no device claimed, since the bus was made. */
export interface UnclaimedCounters {
  readonly pioReads: number;
  readonly pioWrites: number;
  readonly mmioReads: number;
  readonly mmioWrites: number;
}

/** One registration in the bus map, inclusive at both ends. */
export interface BusMapEntry {
  readonly space: 'pio' | 'mmio';
  readonly first: number;
  readonly last: number;
  readonly device: string;
}

interface PioRange {
  readonly first: number;
  readonly last: number;
  readonly dev: PioDevice;
}

interface MmioRange {
  readonly first: number;
  readonly last: number;
  readonly dev: MmioDevice;
}

function hex(value: number, digits: number): string {
  return '0x' + value.toString(16).padStart(digits, '0');
}

function span(first: number, last: number, digits: number): string {
  return `${hex(first, digits)}-${hex(last, digits)}`;
}

/** True for 1, 2, 4, 8, …: the counts at which a summary line is logged. */
function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Formats {@link IoBus.describe}'s entries as a table, one registration a line. */
export function formatBusMap(entries: readonly BusMapEntry[]): string {
  return entries
    .map((e) => {
      const digits = e.space === 'pio' ? 4 : 8;
      return `${e.space.padEnd(4)} ${span(e.first, e.last, digits)} ${e.device}`;
    })
    .join('\n');
}

/** Port and MMIO dispatch for one machine; the engine calls it through {@link IoHandler}. */
export class IoBus implements IoHandler {
  // Port -> index into #pioDevices; 0 means unclaimed. A typed array keeps the lookup a
  // single packed load.
  readonly #portIndex = new Uint16Array(PIO_PORTS);
  readonly #pioDevices: (PioDevice | undefined)[] = [undefined];
  readonly #pioRanges: PioRange[] = [];
  readonly #mmio: MmioRange[] = [];
  // Guests hit the same MMIO device many times in a row (a virtqueue notify, a register
  // file), so the last hit is tried before bisecting.
  #lastMmio: MmioRange | undefined;
  readonly #unclaimedPerPort = new Uint32Array(PIO_PORTS);
  #unclaimedMmioLogged = 0;
  #pioReads = 0;
  #pioWrites = 0;
  #mmioReads = 0;
  #mmioWrites = 0;

  /** Accesses no device claimed, by kind. A fresh copy on each read. */
  get unclaimed(): UnclaimedCounters {
    return {
      pioReads: this.#pioReads,
      pioWrites: this.#pioWrites,
      mmioReads: this.#mmioReads,
      mmioWrites: this.#mmioWrites,
    };
  }

  /**
   * Claims ports `first` to `first + count - 1` for `dev`, which is then called with the
   * absolute port number. One device may claim several ranges (a PIC pair, PCI 0xcf8/0xcfc).
   * @throws RangeError when the range leaves the 64 KiB port space
   * @throws Error naming both devices when a port is already claimed
   */
  addPio(first: number, count: number, dev: PioDevice): void {
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1) {
      throw new RangeError(`${dev.name}: bad port range (first ${first}, count ${count})`);
    }
    const last = first + count - 1;
    if (last >= PIO_PORTS) {
      throw new RangeError(`${dev.name}: ports ${span(first, last, 4)} pass 0xffff`);
    }
    for (let port = first; port <= last; port++) {
      if (this.#portIndex[port] === 0) continue;
      const other = this.#pioRanges.find((r) => r.first <= port && port <= r.last);
      const where = other ? `${span(other.first, other.last, 4)} of "${other.dev.name}"` : '';
      throw new Error(`pio ports ${span(first, last, 4)} of "${dev.name}" overlap ports ${where}`);
    }
    let index = this.#pioDevices.indexOf(dev);
    if (index < 0) {
      index = this.#pioDevices.push(dev) - 1;
      if (index >= PIO_PORTS) throw new Error(`${dev.name}: too many port devices`);
    }
    this.#portIndex.fill(index, first, last + 1);
    this.#pioRanges.push({ first, last, dev });
  }

  /**
   * Releases ports `first` to `first + count - 1`, which `dev` claimed as one range with
   * {@link addPio}: for ranges that move, such as PCI I/O BARs the guest reprograms.
   * @throws Error when `dev` holds no such range
   */
  removePio(first: number, count: number, dev: PioDevice): void {
    const last = first + count - 1;
    const i = this.#pioRanges.findIndex(
      (r) => r.first === first && r.last === last && r.dev === dev,
    );
    if (i < 0) throw new Error(`"${dev.name}" holds no pio ports ${span(first, last, 4)}`);
    this.#pioRanges.splice(i, 1);
    this.#portIndex.fill(0, first, last + 1);
  }

  /**
   * Claims guest-physical `[base, base + length)` for `dev`, which is then called with the
   * offset from `base`.
   * @throws RangeError when the range is empty or passes {@link MMIO_LIMIT}
   * @throws Error naming both devices when the range overlaps another
   */
  addMmio(base: number, length: number, dev: MmioDevice): void {
    if (!Number.isInteger(base) || !Number.isInteger(length) || base < 0 || length < 1) {
      throw new RangeError(`${dev.name}: bad MMIO range (base ${base}, length ${length})`);
    }
    const last = base + length - 1;
    if (last >= MMIO_LIMIT) {
      throw new RangeError(`${dev.name}: MMIO range at ${hex(base, 8)} passes 2^52`);
    }
    // Insertion point: the first range that starts above `base`.
    let lo = 0;
    let hi = this.#mmio.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#mmio[mid]?.first ?? Infinity) <= base) lo = mid + 1;
      else hi = mid;
    }
    const before = this.#mmio[lo - 1];
    const after = this.#mmio[lo];
    for (const other of [before, after]) {
      if (other === undefined || other.last < base || other.first > last) continue;
      throw new Error(
        `MMIO ${span(base, last, 8)} of "${dev.name}" overlaps ` +
          `${span(other.first, other.last, 8)} of "${other.dev.name}"`,
      );
    }
    this.#mmio.splice(lo, 0, { first: base, last, dev });
  }

  /** Every registration, ports first, each space in address order. */
  describe(): BusMapEntry[] {
    const pio = [...this.#pioRanges].sort((a, b) => a.first - b.first);
    return [
      ...pio.map((r) => ({
        space: 'pio' as const,
        first: r.first,
        last: r.last,
        device: r.dev.name,
      })),
      ...this.#mmio.map((r) => ({
        space: 'mmio' as const,
        first: r.first,
        last: r.last,
        device: r.dev.name,
      })),
    ];
  }

  /** A guest `in`. An access wider than one port goes wholly to the device at `port`. */
  pioRead(port: number, size: PioSize): number {
    const dev = this.#pioDevices[this.#portIndex[port] ?? 0];
    if (dev !== undefined) return dev.pioRead(port, size);
    this.#pioReads++;
    const value = allOnes(size);
    this.#noteUnclaimedPio('in', port, size, value);
    return value;
  }

  /** A guest `out`. */
  pioWrite(port: number, size: PioSize, value: number): void {
    const dev = this.#pioDevices[this.#portIndex[port] ?? 0];
    if (dev !== undefined) {
      dev.pioWrite(port, size, value);
      return;
    }
    this.#pioWrites++;
    this.#noteUnclaimedPio('out', port, size, value);
  }

  /** A guest read of non-RAM memory; an access is routed by its first byte. */
  mmioRead(gpa: number, size: MmioSize): number {
    const range = this.#findMmio(gpa);
    if (range !== undefined) return range.dev.mmioRead(gpa - range.first, size);
    this.#mmioReads++;
    const value = allOnes(size);
    this.#noteUnclaimedMmio('read', gpa, size, value);
    return value;
  }

  /** A guest write to non-RAM memory. */
  mmioWrite(gpa: number, size: MmioSize, value: number): void {
    const range = this.#findMmio(gpa);
    if (range !== undefined) {
      range.dev.mmioWrite(gpa - range.first, size, value);
      return;
    }
    this.#mmioWrites++;
    this.#noteUnclaimedMmio('write', gpa, size, value);
  }

  #findMmio(gpa: number): MmioRange | undefined {
    const last = this.#lastMmio;
    if (last !== undefined && last.first <= gpa && gpa <= last.last) return last;
    // The last range that starts at or below `gpa`, if `gpa` falls inside it.
    let lo = 0;
    let hi = this.#mmio.length - 1;
    let found: MmioRange | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#mmio[mid];
      if (r === undefined) break;
      if (r.first <= gpa) {
        found = r;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found === undefined || gpa > found.last) return undefined;
    this.#lastMmio = found;
    return found;
  }

  // The first few unclaimed accesses of a port are logged one by one, then one summary each
  // time the count reaches a power of two: at most ~36 lines per port over a VM's life.
  #noteUnclaimedPio(op: 'in' | 'out', port: number, size: PioSize, value: number): void {
    const n = (this.#unclaimedPerPort[port] ?? 0) + 1;
    this.#unclaimedPerPort[port] = n;
    if (!log.debugEnabled()) return;
    const what = `${op} port ${hex(port, 4)} size ${size} value ${hex(truncate(value, size), size * 2)}`;
    if (n < LOG_FIRST_UNCLAIMED) {
      log.debug('unclaimed %s', what);
    } else if (n === LOG_FIRST_UNCLAIMED) {
      log.debug('unclaimed %s (further ones summarised)', what);
    } else if (isPowerOfTwo(n)) {
      log.debug('unclaimed accesses to port %s: %d so far, last %s', hex(port, 4), n, what);
    }
  }

  // MMIO addresses are too many to count one by one, so the limit applies to all of them.
  #noteUnclaimedMmio(op: 'read' | 'write', gpa: number, size: MmioSize, value: number): void {
    if (!log.debugEnabled()) return;
    const n = this.#mmioReads + this.#mmioWrites;
    const what = `${op} ${hex(gpa, 8)} size ${size} value ${hex(truncate(value, size), size * 2)}`;
    if (this.#unclaimedMmioLogged < LOG_FIRST_UNCLAIMED * 4) {
      this.#unclaimedMmioLogged++;
      log.debug('unclaimed MMIO %s', what);
    } else if (isPowerOfTwo(n)) {
      log.debug('unclaimed MMIO accesses: %d so far, last %s', n, what);
    }
  }
}
