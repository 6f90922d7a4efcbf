/**
 * The PC's interval timer: an Intel 8254 programmable interval timer at 0x40-0x43, clocked at
 * 1.193182 MHz, with counter 0's OUT on IRQ 0, counter 1 the old DRAM refresh timer and
 * counter 2 gated and read back through port 0x61 (the PIIX "NMI Status and Control"
 * register, which the PC/AT inherited from its 8255 port B). References are to the 8254
 * datasheet (Intel, order 231164) by section ("8254: Mode 2") and to the PIIX datasheet for
 * port 0x61.
 *
 * Nothing ticks: each counter records the clock edge at which it started counting and its
 * count and OUT are computed from the injected virtual clock when read. {@link I8254.update}
 * raises the IRQ 0 edges that are due and {@link I8254.nextDeadline} tells the machine when
 * the next one comes.
 *
 * Approximations: a count written in mode 3 during counting takes effect at the end of the
 * current period rather than half-period; in modes 2 and 3 an (illegal) count of 1 acts as 2;
 * before the first clock after a load or trigger a counter reads its new count; BCD counts
 * with digits above 9 count as their binary value of each digit; counter 1 is never connected
 * to anything and port 0x61's refresh toggle follows a fixed 15.085 µs refresh period.
 */

import type { PioSize } from '../engine/types.js';
import { ticksAt, timeOfTick } from './clock.js';
import type { VirtualClock } from './clock.js';
import { PitCounter } from './i8254_counter.js';
import { arrayField, boolField, checkStateHeader, intField, recordValue } from './state.js';
import type { DeviceState, IrqLine, PioDevice } from './types.js';

export {
  CW_BCD,
  CW_M,
  CW_RW,
  RW_LATCH,
  RW_LSB,
  RW_LSB_MSB,
  RW_MSB,
  STATUS_NULL_COUNT,
  STATUS_OUTPUT,
} from './i8254_counter.js';

/** The 8254's input clock in Hz. */ export const PIT_HZ = 1_193_182;
/** Counter 0's port; counters 1 and 2 follow, then the control word port. */
export const PIT_PORT = 0x40;
/** Control word register, write only (A1 A0 = 11). */ export const TIMER_MODE = 0x43;
/** The PIIX NMI Status and Control register (port B). */ export const NMISC_PORT = 0x61;

/** Control word bits 6-7 (SC1 SC0): counter select; 11 is the read-back command. */
export const CW_SC = 0xc0;
/** SC = 11: read-back command. */ export const SC_READ_BACK = 0xc0;
/** Read-back bit 5 (COUNT, active low): latch the selected counters' counts. */
export const RB_NOT_COUNT = 0x20;
/** Read-back bit 4 (STATUS, active low): latch the selected counters' status. */
export const RB_NOT_STATUS = 0x10;
/** Read-back bit 1 + n: select counter n. */ export const RB_CNT0 = 0x02;

/** Port 0x61 bit 0: counter 2's GATE (TIM_CNT2_EN). */ export const NMISC_TIM2_GATE = 0x01;
/** Port 0x61 bit 1: speaker data enable. */ export const NMISC_SPKR_DAT = 0x02;
/** Port 0x61 bit 2: PCI SERR# NMI enable (0 enables). */ export const NMISC_SERR_EN = 0x04;
/** Port 0x61 bit 3: IOCHK# NMI enable (0 enables). */ export const NMISC_IOCHK_EN = 0x08;
/** Port 0x61 bit 4: refresh cycle toggle (read only). */ export const NMISC_REF_TOGGLE = 0x10;
/** Port 0x61 bit 5: counter 2's OUT (read only). */ export const NMISC_TIM2_OUT = 0x20;

// The PC/AT firmware ran counter 1 in mode 2 with count 18 to time DRAM refresh.
const REFRESH_CLOCKS = 18;
const HZ = BigInt(PIT_HZ);
const STATE_DEVICE = 'i8254';
const STATE_VERSION = 1;
const MAX_TICK = Number.MAX_SAFE_INTEGER;

/** Options of {@link I8254}. */
export interface I8254Options {
  /** Name for logs and the bus map; `pit` by default. */
  name?: string;
  /** Virtual time, read on every access. */
  clock: VirtualClock;
  /** Counter 0's OUT: IRQ 0. */
  irq: IrqLine;
}

/**
 * The 8254 and port 0x61. Register it on the bus at {@link PIT_PORT} (4 ports) and
 * {@link NMISC_PORT} (1 port).
 */
export class I8254 implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #clock: VirtualClock;
  readonly #irq: IrqLine;
  #counters: [PitCounter, PitCounter, PitCounter] = [
    new PitCounter(true),
    new PitCounter(true),
    new PitCounter(false),
  ];
  /** Port 0x61 bits 0-3 as written. */
  #nmisc = 0;
  /** The clock edge up to which IRQ 0 has been brought up to date. */
  #lastTick = 0;
  /** The level IRQ 0 was last driven to. */
  #irqLevel = false;

  /** A timer with every counter idle and OUT high (IRQ 0 raised), counter 2's GATE low. */
  constructor(options: I8254Options) {
    this.name = options.name ?? 'pit';
    this.#clock = options.clock;
    this.#irq = options.irq;
    this.#lastTick = this.#now();
    // IRQ 0 starts at OUT's power-up level.
    this.#drive(this.#counters[0].out(this.#lastTick));
  }

  /** Reads a counter (latched status, latched count or the live count) or port 0x61. */
  pioRead(port: number): number {
    const t = this.#sync();
    if (port === NMISC_PORT) {
      const c2 = this.#counter(2, t);
      return (
        this.#nmisc |
        (c2.out(t) ? NMISC_TIM2_OUT : 0) |
        (Math.floor(t / REFRESH_CLOCKS) & 1 ? NMISC_REF_TOGGLE : 0)
      );
    }
    const n = port - PIT_PORT;
    if (n > 2) return 0xff; // 8254: the control word register cannot be read.
    return this.#counter(n, t).read(t);
  }

  /** Writes a count, a control word (or latch or read-back command) or port 0x61. */
  pioWrite(port: number, _size: PioSize, value: number): void {
    const t = this.#sync();
    const v = value & 0xff;
    if (port === NMISC_PORT) {
      this.#nmisc = v & 0x0f;
      this.#counter(2, t).setGate((v & NMISC_TIM2_GATE) !== 0, t);
    } else if (port === TIMER_MODE) {
      if ((v & CW_SC) === SC_READ_BACK) this.#readBack(v, t);
      else this.#counter(v >> 6, t).writeControl(v, t);
    } else {
      this.#counter(port - PIT_PORT, t).writeCount(v, t);
    }
    this.#drive(this.#counters[0].out(t));
  }

  /** Brings IRQ 0 up to the clock's current time: one edge if OUT rose since the last call. */
  update(): void {
    this.#sync();
  }

  /** Virtual time of the next IRQ 0 edge not yet raised, or undefined when none will come. */
  nextDeadline(): bigint | undefined {
    const rise = this.#counters[0].nextRise(this.#lastTick);
    return rise === undefined ? undefined : timeOfTick(rise, HZ);
  }

  /** Counter `n`'s OUT pin now. */
  out(n: 0 | 1 | 2): boolean {
    const t = this.#sync();
    return this.#counter(n, t).out(t);
  }

  /** Whether port 0x61 routes counter 2 to the speaker (GATE and speaker data both set). */
  get speakerEnabled(): boolean {
    return (this.#nmisc & (NMISC_TIM2_GATE | NMISC_SPKR_DAT)) === 3;
  }

  /** Every counter and port 0x61. */
  saveState(): DeviceState {
    this.#sync();
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      counters: this.#counters.map((c) => c.save()),
      nmisc: this.#nmisc,
      lastTick: this.#lastTick,
      irqLevel: this.#irqLevel,
    };
  }

  /**
   * Restores {@link saveState}'s record, whose ticks count from the same virtual clock. IRQ 0
   * is not driven: the interrupt controller restores its own view of it.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const saved = arrayField(STATE_DEVICE, state, 'counters', 3, 3);
    const counter = (i: number): PitCounter =>
      PitCounter.load(recordValue(STATE_DEVICE, saved[i], `"counters[${i}]"`));
    const counters: [PitCounter, PitCounter, PitCounter] = [counter(0), counter(1), counter(2)];
    const nmisc = intField(STATE_DEVICE, state, 'nmisc', 0, 0x0f);
    const lastTick = intField(STATE_DEVICE, state, 'lastTick', 0, MAX_TICK);
    this.#irqLevel = boolField(STATE_DEVICE, state, 'irqLevel');
    this.#counters = counters;
    this.#nmisc = nmisc;
    this.#lastTick = lastTick;
  }

  #now(): number {
    return ticksAt(this.#clock.now(), HZ);
  }

  #counter(n: number, t: number): PitCounter {
    const c = this.#counters[n] ?? this.#counters[0];
    c.settle(t);
    return c;
  }

  // Raises the IRQ 0 edge due since the last call and sets the line to OUT's level now.
  #sync(): number {
    const t = this.#now();
    const c0 = this.#counters[0];
    const rise = c0.nextRise(this.#lastTick);
    c0.settle(t);
    if (rise !== undefined && rise <= t) {
      if (this.#irqLevel) this.#irq.lower();
      this.#irq.raise();
      this.#irqLevel = true;
    }
    this.#drive(c0.out(t));
    this.#lastTick = Math.max(this.#lastTick, t);
    return t;
  }

  #drive(level: boolean): void {
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    if (level) this.#irq.raise();
    else this.#irq.lower();
  }

  #readBack(v: number, t: number): void {
    for (let n = 0; n < 3; n++) {
      if (!(v & (RB_CNT0 << n))) continue;
      const c = this.#counter(n, t);
      if (!(v & RB_NOT_COUNT)) c.latchCount(t);
      if (!(v & RB_NOT_STATUS)) c.latchStatus(t);
    }
  }
}
