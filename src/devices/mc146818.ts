/**
 * The PC's real-time clock and CMOS RAM: a Motorola MC146818A behind the index port 0x70 (bit
 * 7 of which masks NMI on PCs) and the data port 0x71, with 128 bytes addressed as on PC/AT
 * chipsets. References are to the MC146818A datasheet (Motorola) by register and bit
 * ("MC146818A: Register C"). Bytes 0x0e-0x7f are RAM; their meaning (memory sizes, century)
 * is the IBM PC/AT firmware's convention, plus the 0x34/0x35 and 0x5b-0x5d memory bytes that
 * SeaBIOS reads.
 *
 * The time of day is the injected wall clock plus whatever offset the guest set; periodic
 * interrupts count the injected virtual clock at 32.768 kHz. Approximations: the day of the
 * week is computed from the date (writes to it last only while SET is 1); changing DM or 24/12
 * shows the time in the new format at once, where the chip would keep the old bytes until they
 * are written again; every divider setting but reset (DV = 11x) runs the 32.768 kHz time base;
 * the update cycle takes no time, so UIP is set only for the 244 µs before each second; the
 * square-wave output and daylight saving are not modelled.
 */

import type { PioSize } from '../engine/types.js';
import { ticksAt, timeOfTick } from './clock.js';
import type { VirtualClock, WallClock } from './clock.js';
import {
  boolField,
  bytesField,
  checkStateHeader,
  intField,
  arrayField,
  intValue,
} from './state.js';
import type { DeviceState, IrqLine, PioDevice } from './types.js';

/** Index port: bits 0-6 address a byte, bit 7 disables NMI. */ export const RTC_INDEX = 0x70;
/** Data port: the addressed byte. */ export const RTC_DATA = 0x71;
/** Bytes of clock registers and RAM. */ export const CMOS_SIZE = 128;

/** Seconds. */ export const RTC_SECONDS = 0x00;
/** Seconds alarm. */ export const RTC_SECONDS_ALARM = 0x01;
/** Minutes. */ export const RTC_MINUTES = 0x02;
/** Minutes alarm. */ export const RTC_MINUTES_ALARM = 0x03;
/** Hours (bit 7 = PM in 12-hour mode). */ export const RTC_HOURS = 0x04;
/** Hours alarm. */ export const RTC_HOURS_ALARM = 0x05;
/** Day of the week, 1 (Sunday) to 7. */ export const RTC_DAY_OF_WEEK = 0x06;
/** Date of the month, 1 to 31. */ export const RTC_DAY_OF_MONTH = 0x07;
/** Month, 1 to 12. */ export const RTC_MONTH = 0x08;
/** Year within the century, 0 to 99. */ export const RTC_YEAR = 0x09;
/** Register A: UIP, divider, rate select. */ export const RTC_REG_A = 0x0a;
/** Register B: SET, interrupt enables, data mode. */ export const RTC_REG_B = 0x0b;
/** Register C: interrupt flags, read only. */ export const RTC_REG_C = 0x0c;
/** Register D: valid RAM and time, read only. */ export const RTC_REG_D = 0x0d;
/** The century, in the time registers' format (PC/AT convention). */
export const CMOS_CENTURY = 0x32;

/** Register A bit 7: update in progress. */ export const REG_A_UIP = 0x80;
/** Register A bits 4-6: divider (DV2-DV0). */ export const REG_A_DV = 0x70;
/** DV = 010: 32.768 kHz time base, running. */ export const DV_32768 = 0x20;
/** DV = 11x: divider held in reset. */ export const DV_RESET = 0x60;
/** Register A bits 0-3: rate select (RS3-RS0). */ export const REG_A_RS = 0x0f;
/** Register B bit 7: SET, updates inhibited while the time is written. */
export const REG_B_SET = 0x80;
/** Register B bit 6: periodic interrupt enable. */ export const REG_B_PIE = 0x40;
/** Register B bit 5: alarm interrupt enable. */ export const REG_B_AIE = 0x20;
/** Register B bit 4: update-ended interrupt enable. */ export const REG_B_UIE = 0x10;
/** Register B bit 3: square-wave enable. */ export const REG_B_SQWE = 0x08;
/** Register B bit 2: data mode, 1 = binary, 0 = BCD. */ export const REG_B_DM = 0x04;
/** Register B bit 1: 24-hour mode. */ export const REG_B_24H = 0x02;
/** Register B bit 0: daylight saving enable. */ export const REG_B_DSE = 0x01;
/** Register C bit 7: interrupt request flag. */ export const REG_C_IRQF = 0x80;
/** Register C bit 6: periodic interrupt flag. */ export const REG_C_PF = 0x40;
/** Register C bit 5: alarm interrupt flag. */ export const REG_C_AF = 0x20;
/** Register C bit 4: update-ended interrupt flag. */ export const REG_C_UF = 0x10;
/** Register D bit 7: valid RAM and time. */ export const REG_D_VRT = 0x80;
/** An alarm byte of 11xxxxxx matches every value ("don't care"). */
export const ALARM_DONT_CARE = 0xc0;

/** Base memory in KiB, 2 bytes (PC/AT). */ export const CMOS_BASE_MEMORY = 0x15;
/** Extended memory above 1 MiB in KiB, 2 bytes (PC/AT). */ export const CMOS_EXT_MEMORY = 0x17;
/** Extended memory in KiB as found by POST, 2 bytes (PC/AT). */
export const CMOS_EXT_MEMORY_POST = 0x30;
/** Memory from 16 MiB to 4 GiB in 64 KiB, 2 bytes (SeaBIOS). */
export const CMOS_MEMORY_ABOVE_16M = 0x34;
/** Memory above 4 GiB in 64 KiB, 3 bytes (SeaBIOS). */ export const CMOS_MEMORY_ABOVE_4G = 0x5b;

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const TIME_BASE_HZ = 32768n;
// MC146818A: "update in progress" is set 244 µs before the update cycle.
const UIP_LEAD = 244e-6;
const FLAGS = REG_C_PF | REG_C_AF | REG_C_UF;
const STATE_DEVICE = 'mc146818';
const STATE_VERSION = 1;

/** The calendar the time registers show: [seconds, minutes, hours, day of week, date, month, year]. */
type Calendar = [number, number, number, number, number, number, number];
const TIME_REGS = [0, 2, 4, 6, 7, 8, 9] as const;

function toCalendar(epochSeconds: number): Calendar {
  const d = new Date(epochSeconds * 1000);
  return [
    d.getUTCSeconds(),
    d.getUTCMinutes(),
    d.getUTCHours(),
    d.getUTCDay() + 1,
    d.getUTCDate(),
    d.getUTCMonth() + 1,
    d.getUTCFullYear(),
  ];
}

function fromCalendar(c: Calendar): number {
  const [sec, min, hour, , day, month, year] = c;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, min, sec, 0);
  return Math.floor(d.getTime() / 1000);
}

/**
 * MC146818A: Register A's rate select, as a period in 32.768 kHz clocks (RS = 1 and 2 give
 * 3.90625 and 7.8125 ms, RS = n >= 3 gives 2^(n-1) clocks); 0 when off.
 */
export function periodicClocks(rs: number): number {
  if (rs === 0) return 0;
  return rs < 3 ? 2 ** (rs + 6) : 2 ** (rs - 1);
}

/** Options of {@link Mc146818}. */
export interface Mc146818Options {
  /** Name for logs and the bus map; `rtc` by default. */
  name?: string;
  /** The time of day the clock starts from. */
  wallClock: WallClock;
  /** Virtual time, for periodic interrupts. */
  clock: VirtualClock;
  /** The IRQ# output: IRQ 8. */
  irq: IrqLine;
}

/** The RTC and its RAM. Register it on the bus at {@link RTC_INDEX}, 2 ports. */
export class Mc146818 implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #wall: WallClock;
  readonly #clock: VirtualClock;
  readonly #irq: IrqLine;
  #cmos: Uint8Array = new Uint8Array(CMOS_SIZE);
  #index = 0;
  #nmiDisabled = false;
  /** Guest time minus wall time, in whole seconds. */
  #offset = 0;
  /** Register C's PF, AF and UF. */
  #flags = 0;
  /** The time registers as written while SET is 1. */
  #held: Calendar | undefined;
  #lastClock32k: number;
  /** The guest second last seen by the update logic, when `#secondSeen`. */
  #lastSecond = 0;
  #secondSeen = false;
  #irqLevel = false;

  /** A clock showing the wall clock's time, BCD and 24-hour, 1024 Hz rate, interrupts off. */
  constructor(options: Mc146818Options) {
    this.name = options.name ?? 'rtc';
    this.#wall = options.wallClock;
    this.#clock = options.clock;
    this.#irq = options.irq;
    this.#cmos[RTC_REG_A] = DV_32768 | 6;
    this.#cmos[RTC_REG_B] = REG_B_24H;
    this.#lastClock32k = this.#now32k();
  }

  /** Whether the guest last wrote the index port with bit 7 set (NMI masked). */
  get nmiDisabled(): boolean {
    return this.#nmiDisabled;
  }

  /** Reads the addressed byte at 0x71; the index port is write only and reads all ones. */
  pioRead(port: number): number {
    if (port === RTC_INDEX) return 0xff;
    this.update();
    return this.#read(this.#index);
  }

  /** Writes the index (and NMI mask) at 0x70 or the addressed byte at 0x71. */
  pioWrite(port: number, _size: PioSize, value: number): void {
    const v = value & 0xff;
    if (port === RTC_INDEX) {
      this.#index = v & 0x7f;
      this.#nmiDisabled = (v & 0x80) !== 0;
      return;
    }
    this.update();
    this.#write(this.#index, v);
    this.#drive();
  }

  /** Sets the flags of the periodic, update-ended and alarm events due now, and IRQ 8. */
  update(): void {
    const running = (this.#reg(RTC_REG_A) & DV_RESET) !== DV_RESET;
    const t = this.#now32k();
    const period = periodicClocks(this.#reg(RTC_REG_A) & REG_A_RS);
    // MC146818A: PF is set at the periodic rate whether or not PIE enables the interrupt.
    if (running && period > 0 && Math.floor(t / period) > Math.floor(this.#lastClock32k / period)) {
      this.#flags |= REG_C_PF;
    }
    this.#lastClock32k = t;
    if (running && !(this.#reg(RTC_REG_B) & REG_B_SET)) {
      const second = this.#seconds();
      if (this.#secondSeen && second !== this.#lastSecond) {
        // MC146818A: UF at the end of each update cycle; AF when the time matches the alarm.
        this.#flags |= REG_C_UF;
        if (this.#alarmMatches()) this.#flags |= REG_C_AF;
      }
      this.#lastSecond = second;
      this.#secondSeen = true;
    } else {
      this.#secondSeen = false;
    }
    this.#drive();
  }

  /**
   * Virtual time at which an enabled interrupt may next be flagged, or undefined when none
   * can until the guest reads Register C (IRQF already set) or none is enabled.
   */
  nextDeadline(): bigint | undefined {
    if (this.#irqLevel) return undefined;
    const a = this.#reg(RTC_REG_A);
    const b = this.#reg(RTC_REG_B);
    if ((a & DV_RESET) === DV_RESET) return undefined;
    let deadline: bigint | undefined;
    const period = periodicClocks(a & REG_A_RS);
    if (b & REG_B_PIE && period > 0) {
      const next = (Math.floor(this.#now32k() / period) + 1) * period;
      deadline = timeOfTick(next, TIME_BASE_HZ);
    }
    if (b & (REG_B_UIE | REG_B_AIE) && !(b & REG_B_SET)) {
      const wall = this.#wall.now();
      const left = Math.floor(wall) + 1 - wall;
      const second = this.#clock.now() + BigInt(Math.ceil(left * 1e9));
      if (deadline === undefined || second < deadline) deadline = second;
    }
    return deadline;
  }

  /**
   * Writes the memory sizes firmware and kernels read from CMOS for `bytes` of RAM, of which
   * the part at and above `lowEnd` (default: all RAM, at most 4 GiB) sits above 4 GiB.
   */
  setMemorySize(bytes: number, lowEnd = Math.min(bytes, 4 * GIB)): void {
    const low = Math.min(bytes, lowEnd);
    const put = (at: number, value: number, count: number): void => {
      for (let i = 0; i < count; i++) this.#cmos[at + i] = Math.floor(value / 256 ** i) & 0xff;
    };
    put(CMOS_BASE_MEMORY, 640, 2);
    const ext = Math.min(Math.floor(Math.max(low - MIB, 0) / KIB), 0xffff);
    put(CMOS_EXT_MEMORY, ext, 2);
    put(CMOS_EXT_MEMORY_POST, ext, 2);
    put(
      CMOS_MEMORY_ABOVE_16M,
      Math.min(Math.floor(Math.max(low - 16 * MIB, 0) / 65536), 0xffff),
      2,
    );
    put(CMOS_MEMORY_ABOVE_4G, Math.min(Math.floor((bytes - low) / 65536), 0xffffff), 3);
  }

  /** MC146818A RESET: clears PIE, AIE, UIE, SQWE and the flags; time and RAM are kept. */
  reset(): void {
    this.#cmos[RTC_REG_B] =
      this.#reg(RTC_REG_B) & ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    this.#flags = 0;
    this.#drive();
  }

  /** RAM, registers, the guest's time offset and the pending flags. */
  saveState(): DeviceState {
    this.update();
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      cmos: this.#cmos.slice(),
      index: this.#index,
      nmiDisabled: this.#nmiDisabled,
      offset: this.#offset,
      flags: this.#flags,
      held: this.#held ? [...this.#held] : [],
      lastClock32k: this.#lastClock32k,
      lastSecond: this.#lastSecond,
      secondSeen: this.#secondSeen,
      irqLevel: this.#irqLevel,
    };
  }

  /**
   * Restores {@link saveState}'s record. IRQ 8 is not driven: the interrupt controller
   * restores its own view of it.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const d = STATE_DEVICE;
    const cmos = bytesField(d, state, 'cmos', CMOS_SIZE);
    const held = arrayField(d, state, 'held', 0, TIME_REGS.length);
    if (held.length !== 0 && held.length !== TIME_REGS.length) {
      throw new Error(`${d} state: "held" must be empty or hold ${TIME_REGS.length} values`);
    }
    const values = held.map((v, i) => intValue(d, v, `"held[${i}]"`, 0, 9999)) as Calendar;
    const big = Number.MAX_SAFE_INTEGER;
    const fields = {
      index: intField(d, state, 'index', 0, 0x7f),
      nmiDisabled: boolField(d, state, 'nmiDisabled'),
      offset: intField(d, state, 'offset', -big, big),
      flags: intField(d, state, 'flags', 0, FLAGS),
      lastClock32k: intField(d, state, 'lastClock32k', 0, big),
      lastSecond: intField(d, state, 'lastSecond', -big, big),
      secondSeen: boolField(d, state, 'secondSeen'),
      irqLevel: boolField(d, state, 'irqLevel'),
    };
    this.#cmos = cmos;
    this.#held = held.length > 0 ? values : undefined;
    this.#index = fields.index;
    this.#nmiDisabled = fields.nmiDisabled;
    this.#offset = fields.offset;
    this.#flags = fields.flags & FLAGS;
    this.#lastClock32k = fields.lastClock32k;
    this.#lastSecond = fields.lastSecond;
    this.#secondSeen = fields.secondSeen;
    this.#irqLevel = fields.irqLevel;
  }

  #reg(index: number): number {
    return this.#cmos[index] ?? 0;
  }

  #now32k(): number {
    return ticksAt(this.#clock.now(), TIME_BASE_HZ);
  }

  /** The guest's time in whole seconds since the epoch. */
  #seconds(): number {
    return Math.floor(this.#wall.now()) + this.#offset;
  }

  /** The time registers' values, decoded: the held ones while SET is 1, else the clock's. */
  #calendar(): Calendar {
    return this.#held ? [...this.#held] : toCalendar(this.#seconds());
  }

  #read(index: number): number {
    const b = this.#reg(RTC_REG_B);
    switch (index) {
      case RTC_REG_A: {
        const wall = this.#wall.now();
        const soon = wall - Math.floor(wall) >= 1 - UIP_LEAD;
        const running = (this.#reg(RTC_REG_A) & DV_RESET) !== DV_RESET;
        // MC146818A: UIP is 1 when an update is about to happen; never while SET is 1.
        const uip = soon && running && !(b & REG_B_SET);
        return (this.#reg(RTC_REG_A) & 0x7f) | (uip ? REG_A_UIP : 0);
      }
      case RTC_REG_C: {
        // MC146818A: reading Register C clears every flag and IRQF, releasing IRQ#.
        const value = this.#flags | (this.#irqLevel ? REG_C_IRQF : 0);
        this.#flags = 0;
        this.#drive();
        return value;
      }
      case RTC_REG_D:
        // MC146818A: VRT reads 1 while the supply is good; bits 0-6 read 0.
        return REG_D_VRT;
      case CMOS_CENTURY:
        return this.#encode(Math.floor(this.#calendar()[6] / 100));
      default: {
        const field = TIME_REGS.indexOf(index as (typeof TIME_REGS)[number]);
        if (field < 0) return this.#cmos[index] ?? 0xff;
        const c = this.#calendar();
        const v = c[field] ?? 0;
        if (index === RTC_HOURS) return this.#encodeHours(v);
        return this.#encode(index === RTC_YEAR ? v % 100 : v);
      }
    }
  }

  #write(index: number, v: number): void {
    switch (index) {
      case RTC_REG_A:
        this.#cmos[RTC_REG_A] = v & 0x7f;
        return;
      case RTC_REG_B:
        this.#writeB(v);
        return;
      case RTC_REG_C:
      case RTC_REG_D:
        // MC146818A: Registers C and D are read only.
        return;
      default:
    }
    const field =
      index === CMOS_CENTURY ? 7 : TIME_REGS.indexOf(index as (typeof TIME_REGS)[number]);
    if (field < 0) {
      this.#cmos[index] = v;
      return;
    }
    const c = this.#calendar();
    if (field === 7) c[6] = this.#decode(v) * 100 + (c[6] % 100);
    else if (index === RTC_YEAR) c[6] = c[6] - (c[6] % 100) + this.#decode(v);
    else if (index === RTC_HOURS) c[2] = this.#decodeHours(v);
    else c[field] = this.#decode(v);
    if (this.#held) this.#held = c;
    else this.#setTime(c);
  }

  #writeB(v: number): void {
    const before = this.#reg(RTC_REG_B);
    let b = v;
    if (v & REG_B_SET && !(before & REG_B_SET)) {
      // MC146818A: SET stops updates so the time can be written; it also clears UIE.
      this.#held = this.#calendar();
      b &= ~REG_B_UIE;
    } else if (!(v & REG_B_SET) && before & REG_B_SET) {
      const c = this.#calendar();
      this.#held = undefined;
      this.#setTime(c);
    }
    this.#cmos[RTC_REG_B] = b;
  }

  #setTime(c: Calendar): void {
    this.#offset = fromCalendar(c) - Math.floor(this.#wall.now());
    this.#secondSeen = false;
  }

  #alarmMatches(): boolean {
    const match = (alarm: number, index: number): boolean =>
      (this.#reg(alarm) & ALARM_DONT_CARE) === ALARM_DONT_CARE ||
      this.#reg(alarm) === this.#read(index);
    return (
      match(RTC_SECONDS_ALARM, RTC_SECONDS) &&
      match(RTC_MINUTES_ALARM, RTC_MINUTES) &&
      match(RTC_HOURS_ALARM, RTC_HOURS)
    );
  }

  // MC146818A Register B DM: binary or BCD for the time, calendar and alarm bytes.
  #encode(v: number): number {
    return this.#reg(RTC_REG_B) & REG_B_DM ? v : Math.floor(v / 10) * 16 + (v % 10);
  }

  #decode(v: number): number {
    return this.#reg(RTC_REG_B) & REG_B_DM ? v : (v >> 4) * 10 + (v & 0xf);
  }

  // MC146818A Register B 24/12: in 12-hour mode hours run 1-12 with bit 7 set for PM.
  #encodeHours(h: number): number {
    if (this.#reg(RTC_REG_B) & REG_B_24H) return this.#encode(h);
    return this.#encode(h % 12 || 12) | (h >= 12 ? 0x80 : 0);
  }

  #decodeHours(v: number): number {
    if (this.#reg(RTC_REG_B) & REG_B_24H) return this.#decode(v);
    return (this.#decode(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
  }

  // MC146818A Register C IRQF: PF·PIE + AF·AIE + UF·UIE, driving IRQ# while set.
  #drive(): void {
    const level = (this.#flags & this.#reg(RTC_REG_B) & FLAGS) !== 0;
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    if (level) this.#irq.raise();
    else this.#irq.lower();
  }
}
