/**
 * One counter of the Intel 8254 (see `i8254.ts` for the chip): its count register, counting
 * element, output latch, status and OUT, in every mode of the datasheet's "Mode Definitions".
 * References are to the 8254 datasheet (Intel, order 231164).
 *
 * Nothing ticks. Times are indexes of the PIT's input clock edges; the counter records the
 * edge at which it started counting and computes its count and OUT for any later edge.
 */

import { arrayField, boolField, intField, intValue } from './state.js';
import type { StateRecord } from './state.js';

/** Control word bits 4-5 (RW1 RW0): counter latch or read/write format. */
export const CW_RW = 0x30;
/** Control word bits 1-3 (M2 M1 M0): the mode. */ export const CW_M = 0x0e;
/** Control word bit 0: binary-coded decimal counting. */ export const CW_BCD = 0x01;
/** RW: counter latch command. */ export const RW_LATCH = 0x00;
/** RW: read/write least significant byte only. */ export const RW_LSB = 0x10;
/** RW: read/write most significant byte only. */ export const RW_MSB = 0x20;
/** RW: least significant byte first, then most significant byte. */ export const RW_LSB_MSB = 0x30;
/** Status bit 7: the OUT pin. */ export const STATUS_OUTPUT = 0x80;
/** Status bit 6: the last count written is not yet loaded into the counting element. */
export const STATUS_NULL_COUNT = 0x40;

const STATE_DEVICE = 'i8254';
const MAX_TICK = Number.MAX_SAFE_INTEGER;

/** A counter's state; plain data, as saved. */
interface CounterState {
  /** Bits 0-5 of the last control word: RW, mode and BCD, as the status byte shows them. */
  control: number;
  /** The count register (CR) as written. */
  cr: number;
  /** A count was written since the control word. */
  hasCount: boolean;
  writeMsb: boolean;
  readMsb: boolean;
  /** Latched count bytes not yet read (the output latch, OL). */
  latch: number[];
  /** Latched status byte, or -1. */
  status: number;
  /** The counting element (CE) runs from `start`; otherwise it holds `idleCount`. */
  counting: boolean;
  /** The clock edge at which the CE held `startCount` (modes 0, 1, 4, 5) or was loaded. */
  start: number;
  startCount: number;
  /** The initial count N, 1 to 65536 (binary) or 10000 (BCD). */
  initial: number;
  /** Modes 2 and 3: a count written during counting, loaded at `pendingAt`; 0 if none. */
  pending: number;
  pendingAt: number;
  /** Modes 0 and 4: the count reached zero before GATE stopped it. */
  tcReached: boolean;
  idleCount: number;
  idleOut: boolean;
  /** Null count is set until `loadAt` (-1: until a trigger or GATE). */
  nullCount: boolean;
  loadAt: number;
  gate: boolean;
}

function fromBcd(raw: number): number {
  return (raw & 0xf) + ((raw >> 4) & 0xf) * 10 + ((raw >> 8) & 0xf) * 100 + (raw >> 12) * 1000;
}

function toBcd(v: number): number {
  const digit = (d: number): number => Math.floor(v / 10 ** d) % 10;
  return digit(0) | (digit(1) << 4) | (digit(2) << 8) | (digit(3) << 12);
}

/** A counter of the 8254. */
export class PitCounter {
  #c: CounterState;

  /** A counter as after power-up: mode 3, no count, OUT high (so no edges), at `gate`. */
  constructor(gate: boolean) {
    this.#c = {
      control: RW_LSB_MSB | (3 << 1),
      cr: 0,
      hasCount: false,
      writeMsb: false,
      readMsb: false,
      latch: [],
      status: -1,
      counting: false,
      start: 0,
      startCount: 0,
      initial: 0x10000,
      pending: 0,
      pendingAt: 0,
      tcReached: false,
      idleCount: 0,
      idleOut: true,
      nullCount: false,
      loadAt: 0,
      gate,
    };
  }

  /** The mode, 0-5; 8254: modes 6 and 7 are modes 2 and 3 (M2 is a don't care). */
  get mode(): number {
    const m = (this.#c.control & CW_M) >> 1;
    return m > 5 ? m - 4 : m;
  }

  /** The counting element's value at clock edge `t`, 0 to the modulus - 1. */
  count(t: number): number {
    const c = this.#c;
    if (!c.counting) return c.idleCount;
    const e = t - c.start;
    const m = this.#modulus();
    const mode = this.mode;
    if (mode === 2 || mode === 3) {
      if (e < 0) return c.initial % m;
      const n = this.#period();
      const q = e % n;
      // 8254 Mode 2: N, N-1, ..., 1, reload. Mode 3: decrements by two, an odd N loading N-1,
      // through each half of the period.
      if (mode === 2) return (n - q) % m;
      const half = Math.ceil(n / 2);
      return ((n & ~1) - 2 * (q < half ? q : q - half)) % m;
    }
    return (((c.startCount - Math.max(e, 0)) % m) + m) % m;
  }

  /** The OUT pin at clock edge `t`. */
  out(t: number): boolean {
    const c = this.#c;
    if (!c.counting) return c.idleOut;
    const e = t - c.start;
    switch (this.mode) {
      case 0:
        // 8254 Mode 0: OUT goes high when the count reaches zero and stays high.
        return c.tcReached || e >= this.#toTerminal();
      case 1:
        // 8254 Mode 1: OUT low from the clock after the trigger until terminal count.
        return e < 0 || e >= this.#toTerminal();
      case 2:
        // 8254 Mode 2: OUT low for the one clock in which the count is 1.
        return e < 0 || e % this.#period() !== this.#period() - 1;
      case 3:
        // 8254 Mode 3: high for the first half of the period (the longer half for odd N).
        return e < 0 || e % this.#period() < Math.ceil(this.#period() / 2);
      default:
        // 8254 Modes 4 and 5: OUT strobes low for one clock when the count reaches zero.
        return c.tcReached || e !== this.#toTerminal();
    }
  }

  /** The first clock edge after `after` at which OUT rises, if any. */
  nextRise(after: number): number | undefined {
    const c = this.#c;
    if (!c.counting) return undefined;
    if (this.mode === 2 || this.mode === 3) {
      const n = this.#period();
      return c.start + Math.max(1, Math.floor((after - c.start) / n) + 1) * n;
    }
    if (c.tcReached) return undefined;
    const rise = c.start + this.#toTerminal() + (this.mode >= 4 ? 1 : 0);
    return rise > after ? rise : undefined;
  }

  /** Catches up to clock edge `t`: modes 2 and 3 load a count written during counting. */
  settle(t: number): void {
    const c = this.#c;
    if (c.pending !== 0 && t >= c.pendingAt) {
      c.start = c.pendingAt;
      c.initial = c.pending;
      c.pending = 0;
    }
  }

  /** A read of the counter's port: latched status, latched count, or the count itself. */
  read(t: number): number {
    const c = this.#c;
    // 8254 Read-Back Command: a latched status is read first, then a latched count.
    if (c.status >= 0) {
      const status = c.status;
      c.status = -1;
      return status;
    }
    const latched = c.latch.shift();
    if (latched !== undefined) return latched;
    const v = this.#encode(this.count(t));
    switch (c.control & CW_RW) {
      case RW_LSB:
        return v & 0xff;
      case RW_MSB:
        return v >> 8;
      default:
        c.readMsb = !c.readMsb;
        return c.readMsb ? v & 0xff : v >> 8;
    }
  }

  /** Counter Latch Command: a count latched and not yet read is kept. */
  latchCount(t: number): void {
    const c = this.#c;
    if (c.latch.length > 0) return;
    const v = this.#encode(this.count(t));
    const rw = c.control & CW_RW;
    if (rw === RW_LSB) c.latch = [v & 0xff];
    else if (rw === RW_MSB) c.latch = [v >> 8];
    else c.latch = [v & 0xff, v >> 8];
  }

  /** Read-Back Command, status: a status latched and not yet read is kept. */
  latchStatus(t: number): void {
    const c = this.#c;
    if (c.status >= 0) return;
    const nullCount = c.nullCount && (c.loadAt < 0 || t < c.loadAt);
    c.status = (this.out(t) ? STATUS_OUTPUT : 0) | (nullCount ? STATUS_NULL_COUNT : 0) | c.control;
  }

  /**
   * A control word for this counter (SC bits already decoded). 8254 Write Operations: it
   * resets the counter's logic and sets OUT to its mode's initial state (low in mode 0, high
   * otherwise); counting waits for a new count. RW = 00 is the counter latch command instead.
   */
  writeControl(v: number, t: number): void {
    const c = this.#c;
    if ((v & CW_RW) === RW_LATCH) {
      this.latchCount(t);
      return;
    }
    c.idleCount = this.count(t);
    c.control = v & 0x3f;
    c.counting = c.hasCount = c.tcReached = c.writeMsb = c.readMsb = false;
    c.idleOut = this.mode !== 0;
    c.latch = [];
    c.status = -1;
    c.pending = 0;
    c.nullCount = true;
    c.loadAt = -1;
  }

  /** A byte written to the counter's port: all or part of a new count. */
  writeCount(v: number, t: number): void {
    const c = this.#c;
    const rw = c.control & CW_RW;
    if (rw === RW_LSB_MSB && !c.writeMsb) {
      c.cr = (c.cr & 0xff00) | v;
      c.writeMsb = true;
      // 8254 Mode 0: writing the first byte stops counting and sets OUT low at once.
      if (this.mode === 0) this.#stop(this.count(t), false);
      return;
    }
    c.writeMsb = false;
    c.cr = rw === RW_LSB ? v : rw === RW_MSB ? v << 8 : (c.cr & 0xff) | (v << 8);
    this.#load(t);
  }

  /**
   * Sets GATE. 8254: modes 0 and 4 pause while GATE is low; in modes 1 and 5 a rising GATE
   * triggers; in modes 2 and 3 a low GATE stops counting with OUT high and a rising GATE
   * restarts from the initial count.
   */
  setGate(level: boolean, t: number): void {
    const c = this.#c;
    if (level === c.gate) return;
    c.gate = level;
    const mode = this.mode;
    if (mode === 0 || mode === 4) {
      if (!level && c.counting) {
        c.tcReached ||= t - c.start >= this.#toTerminal();
        this.#stop(this.count(t), mode === 4 || c.tcReached);
      } else if (level && c.hasCount) {
        this.#run(t, c.idleCount);
      }
    } else if (mode === 1 || mode === 5) {
      if (level && c.hasCount) {
        c.tcReached = false;
        c.loadAt = t + 1;
        this.#run(t + 1, c.initial % this.#modulus());
      }
    } else if (!level) {
      this.#stop(this.count(t), true);
    } else if (c.hasCount) {
      if (c.pending !== 0) c.initial = c.pending;
      c.pending = 0;
      c.loadAt = t + 1;
      this.#run(t + 1, c.initial % this.#modulus());
    }
  }

  /** The counter's state as plain data. */
  save(): StateRecord {
    return { ...this.#c, latch: [...this.#c.latch] };
  }

  /**
   * A counter with the state {@link save} returned.
   * @throws Error when the record is malformed
   */
  static load(r: StateRecord): PitCounter {
    const int = (key: string, min: number, max: number): number =>
      intField(STATE_DEVICE, r, key, min, max);
    const bool = (key: string): boolean => boolField(STATE_DEVICE, r, key);
    const latch = arrayField(STATE_DEVICE, r, 'latch', 0, 2);
    const counter = new PitCounter(false);
    counter.#c = {
      control: int('control', 0, 0x3f),
      cr: int('cr', 0, 0xffff),
      hasCount: bool('hasCount'),
      writeMsb: bool('writeMsb'),
      readMsb: bool('readMsb'),
      latch: latch.map((b, i) => intValue(STATE_DEVICE, b, `"latch[${i}]"`, 0, 0xff)),
      status: int('status', -1, 0xff),
      counting: bool('counting'),
      start: int('start', 0, MAX_TICK),
      startCount: int('startCount', 0, 0xffff),
      initial: int('initial', 1, 0x10000),
      pending: int('pending', 0, 0x10000),
      pendingAt: int('pendingAt', 0, MAX_TICK),
      tcReached: bool('tcReached'),
      idleCount: int('idleCount', 0, 0xffff),
      idleOut: bool('idleOut'),
      nullCount: bool('nullCount'),
      loadAt: int('loadAt', -1, MAX_TICK),
      gate: bool('gate'),
    };
    return counter;
  }

  #modulus(): number {
    return this.#c.control & CW_BCD ? 10000 : 0x10000;
  }

  #encode(v: number): number {
    return this.#c.control & CW_BCD ? toBcd(v) : v;
  }

  /** The period of modes 2 and 3 in clocks; an (illegal) count of 1 acts as 2. */
  #period(): number {
    return Math.max(this.#c.initial, 2);
  }

  /** Clocks from a CE value of `startCount` to terminal count (0 stands for the modulus). */
  #toTerminal(): number {
    return this.#c.startCount === 0 ? this.#modulus() : this.#c.startCount;
  }

  // 8254 Mode Definitions: when a new count is loaded into the counting element.
  #load(t: number): void {
    const c = this.#c;
    const m = this.#modulus();
    const raw = c.control & CW_BCD ? fromBcd(c.cr) : c.cr;
    const n = raw === 0 ? m : raw;
    const mode = this.mode;
    c.hasCount = true;
    c.nullCount = true;
    if (mode === 1 || mode === 5) {
      // Loaded at the next trigger; a one-shot under way is not affected.
      c.initial = n;
      c.loadAt = -1;
    } else if (mode === 2 || mode === 3) {
      if (c.counting) {
        const p = this.#period();
        c.pending = n;
        c.pendingAt = c.start + Math.max(1, Math.floor((t - c.start) / p) + 1) * p;
        c.loadAt = c.pendingAt;
      } else {
        c.initial = n;
        c.loadAt = c.gate ? t + 1 : -1;
        if (c.gate) this.#run(t + 1, n % m);
      }
    } else {
      // Modes 0 and 4: loaded on the next clock, GATE or not; counting restarts from it.
      c.initial = n;
      c.tcReached = false;
      c.loadAt = t + 1;
      if (c.gate) this.#run(t + 1, n % m);
      else this.#stop(n % m, mode === 4);
    }
  }

  #run(start: number, count: number): void {
    this.#c.counting = true;
    this.#c.start = start;
    this.#c.startCount = count;
  }

  #stop(count: number, out: boolean): void {
    this.#c.counting = false;
    this.#c.idleCount = count;
    this.#c.idleOut = out;
  }
}
