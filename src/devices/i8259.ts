/**
 * The PC's interrupt controllers: two Intel 8259A programmable interrupt controllers, the
 * master at 0x20/0x21 and the slave at 0xa0/0xa1 with its INT wired to the master's IR2, plus
 * the edge/level control registers (ELCR) at 0x4d0/0x4d1 that PCI chipsets (Intel PIIX) put in
 * front of them. References are to the 8259A datasheet (Intel, order 231468), cited by command
 * word and bit ("8259A: OCW3 selects IRR or ISR"), and to the PIIX datasheet for the ELCR.
 *
 * Two deliberate departures, both for emulation rather than wires:
 * - An edge-triggered request stays latched in IRR until the INTA cycle even if its line falls
 *   first. The datasheet asks the input to stay high until the first INTA (else a default IR7
 *   results), but `IrqLine.pulse()` sources and timers updated at coarse steps raise and lower
 *   in one go, and must not turn into spurious interrupts.
 * - MCS-80/85 mode (ICW4 µPM = 0) is accepted but vectors are formed as in 8086 mode.
 *
 * The INTA cycle is {@link I8259.acknowledge}: the machine calls it when the vCPU can take an
 * interrupt and {@link I8259.hasInterrupt} says one is waiting.
 */

import type { PioSize } from '../engine/types.js';
import { boolField, checkStateHeader, intField, recordField } from './state.js';
import type { StateRecord } from './state.js';
import type { DeviceState, IrqLine, PioDevice } from './types.js';

/** The master's command port (A0 = 0); A0 = 1 is the next port. */ export const PIC_MASTER = 0x20;
/** The slave's command port (A0 = 0); A0 = 1 is the next port. */ export const PIC_SLAVE = 0xa0;
/** ELCR1 (IRQ 0-7); ELCR2 (IRQ 8-15) is the next port (PIIX). */ export const ELCR = 0x4d0;
/** The master input the slave's INT drives. */ export const CASCADE_IRQ = 2;

/** ICW1 bit 0: ICW4 needed. */ export const ICW1_IC4 = 0x01;
/** ICW1 bit 1: single 8259A, no ICW3. */ export const ICW1_SNGL = 0x02;
/** ICW1 bit 2: call address interval 4 (MCS-80/85 only). */ export const ICW1_ADI = 0x04;
/** ICW1 bit 3: level-triggered mode for all inputs. */ export const ICW1_LTIM = 0x08;
/** ICW1 bit 4: marks a write with A0 = 0 as ICW1. */ export const ICW1_INIT = 0x10;

/** ICW4 bit 0: 8086/8088 mode (µPM). */ export const ICW4_8086 = 0x01;
/** ICW4 bit 1: automatic end of interrupt. */ export const ICW4_AEOI = 0x02;
/** ICW4 bit 2: master (buffered mode only). */ export const ICW4_MS = 0x04;
/** ICW4 bit 3: buffered mode. */ export const ICW4_BUF = 0x08;
/** ICW4 bit 4: special fully nested mode. */ export const ICW4_SFNM = 0x10;

/** OCW2 bits 5-7 (R, SL, EOI): non-specific EOI. */ export const OCW2_EOI = 0x20;
/** OCW2: specific EOI of level L2-L0. */ export const OCW2_SPECIFIC_EOI = 0x60;
/** OCW2: rotate on non-specific EOI. */ export const OCW2_ROTATE_EOI = 0xa0;
/** OCW2: rotate in automatic EOI mode (set). */ export const OCW2_ROTATE_AEOI_SET = 0x80;
/** OCW2: rotate in automatic EOI mode (clear). */ export const OCW2_ROTATE_AEOI_CLEAR = 0x00;
/** OCW2: rotate on specific EOI of level L2-L0. */ export const OCW2_ROTATE_SPECIFIC_EOI = 0xe0;
/** OCW2: set priority (L2-L0 becomes the lowest). */ export const OCW2_SET_PRIORITY = 0xc0;
/** OCW2: no operation. */ export const OCW2_NOP = 0x40;

/** OCW3 bits 3-4 = 01 mark a write with A0 = 0 as OCW3. */ export const OCW3_SELECT = 0x08;
/** OCW3 bit 0: read ISR (with RR) rather than IRR. */ export const OCW3_RIS = 0x01;
/** OCW3 bit 1: read register command (RR). */ export const OCW3_RR = 0x02;
/** OCW3 bit 2: poll command (P). */ export const OCW3_P = 0x04;
/** OCW3 bit 5: special mask mode (with ESMM). */ export const OCW3_SMM = 0x20;
/** OCW3 bit 6: enable special mask mode change (ESMM). */ export const OCW3_ESMM = 0x40;

/** The poll word's bit 7 (I): an interrupt was pending; bits 0-2 are its level. */
export const POLL_INT = 0x80;

// PIIX ELCR1 bits 0-2 (IRQ 0, 1, 2) and ELCR2 bits 0 and 5 (IRQ 8, 13) are edge only.
const ELCR_MASK = [0xf8, 0xde] as const;
const STATE_DEVICE = 'i8259';
const STATE_VERSION = 1;

/** One 8259A's registers; plain data, as saved. */
interface ChipRegs {
  irr: number;
  isr: number;
  imr: number;
  /** Levels of the IR input pins now. */
  lines: number;
  elcr: number;
  /** ICW2 T7-T3: the vector of IR0. */
  base: number;
  icw1: number;
  icw3: number;
  icw4: number;
  /** The ICW expected next through A0 = 1 (2, 3 or 4), or 0 when initialized. */
  initStep: number;
  /** The level of lowest priority; IR7 after ICW1 (fully nested). */
  lowest: number;
  readIsr: boolean;
  poll: boolean;
  specialMask: boolean;
  rotateAeoi: boolean;
}

/** One 8259A: IRR, ISR and IMR, priority resolution, the command words. */
class Chip {
  r: ChipRegs;
  readonly #elcrMask: number;
  readonly #isMaster: boolean;

  constructor(isMaster: boolean) {
    this.#isMaster = isMaster;
    this.#elcrMask = ELCR_MASK[isMaster ? 0 : 1];
    this.r = Chip.resetRegs();
  }

  // Power-up leaves the 8259A undefined; here everything is clear and every input masked,
  // so nothing is delivered until the guest initializes the controller.
  static resetRegs(): ChipRegs {
    return {
      irr: 0,
      isr: 0,
      imr: 0xff,
      lines: 0,
      elcr: 0,
      base: 0,
      icw1: 0,
      icw3: 0,
      icw4: 0,
      initStep: 0,
      lowest: 7,
      readIsr: false,
      poll: false,
      specialMask: false,
      rotateAeoi: false,
    };
  }

  /** Inputs that are level triggered: all with ICW1 LTIM, else those set in the ELCR. */
  get levelMask(): number {
    return this.r.icw1 & ICW1_LTIM ? 0xff : this.r.elcr;
  }

  /** The IR inputs with a slave on them (ICW3 of a master in cascade mode). */
  get cascadeMask(): number {
    return this.#isMaster && !(this.r.icw1 & ICW1_SNGL) ? this.r.icw3 : 0;
  }

  setLine(ir: number, level: boolean): void {
    const bit = 1 << ir;
    if (this.levelMask & bit) {
      // 8259A: in level-triggered mode the request follows the IR input's level.
      this.r.irr = level ? this.r.irr | bit : this.r.irr & ~bit;
    } else if (level && !(this.r.lines & bit)) {
      // 8259A: in edge-triggered mode a low-to-high transition sets the request.
      this.r.irr |= bit;
    }
    this.r.lines = level ? this.r.lines | bit : this.r.lines & ~bit;
  }

  /** The level in `mask` of highest priority, or -1. */
  first(mask: number): number {
    for (let k = 1; k <= 8; k++) {
      const ir = (this.r.lowest + k) & 7;
      if (mask & (1 << ir)) return ir;
    }
    return -1;
  }

  /** Rank of `ir` in the priority order; 0 is the highest. */
  rank(ir: number): number {
    return (ir - this.r.lowest - 1) & 7;
  }

  /**
   * The unmasked request that INT would signal, or -1: one of higher priority than every
   * level in service (fully nested mode).
   */
  pending(): number {
    const req = this.first(this.r.irr & ~this.r.imr);
    if (req < 0) return -1;
    let service = this.r.isr;
    // 8259A: in special mask mode a masked level in service does not inhibit other levels.
    if (this.r.specialMask) service &= ~this.r.imr;
    // 8259A ICW4 SFNM: a master lets a slave's higher-priority request through while the
    // slave's earlier one is in service.
    if (this.r.icw4 & ICW4_SFNM) service &= ~this.cascadeMask;
    const cur = this.first(service);
    return cur >= 0 && this.rank(cur) <= this.rank(req) ? -1 : req;
  }

  /** The INTA cycle's effect on level `ir`: ISR set (unless AEOI), an edge request cleared. */
  intack(ir: number): void {
    const bit = 1 << ir;
    if (!(this.levelMask & bit)) this.r.irr &= ~bit;
    if (!(this.r.icw4 & ICW4_AEOI)) this.r.isr |= bit;
    // 8259A OCW2: in rotate-in-AEOI mode the level just served becomes the lowest.
    else if (this.r.rotateAeoi) this.r.lowest = ir;
  }

  writeCommand(v: number): void {
    if (v & ICW1_INIT) this.#icw1(v);
    else if (v & OCW3_SELECT) this.#ocw3(v);
    else this.#ocw2(v);
  }

  writeData(v: number): void {
    const r = this.r;
    switch (r.initStep) {
      case 2:
        // 8259A ICW2: T7-T3 are the vector's high bits; the level fills bits 0-2.
        r.base = v & 0xf8;
        r.initStep = r.icw1 & ICW1_SNGL ? this.#afterIcw3() : 3;
        break;
      case 3:
        // 8259A ICW3: a master's slave inputs, or a slave's ID; the pair's wiring is fixed.
        r.icw3 = v;
        r.initStep = this.#afterIcw3();
        break;
      case 4:
        r.icw4 = v & 0x1f;
        r.initStep = 0;
        break;
      default:
        // 8259A OCW1: the interrupt mask register.
        r.imr = v;
    }
  }

  readCommand(): number {
    if (this.r.poll) {
      // 8259A poll command: the next read returns I and W2-W0 and acts as an INTA.
      this.r.poll = false;
      const ir = this.pending();
      if (ir < 0) return 0;
      this.intack(ir);
      return POLL_INT | ir;
    }
    // 8259A OCW3: RR/RIS select IRR or ISR for reads with A0 = 0.
    return this.r.readIsr ? this.r.isr : this.r.irr;
  }

  writeElcr(v: number): void {
    this.r.elcr = v & this.#elcrMask;
    // A level-triggered input's request is its line from now on.
    const level = this.levelMask;
    this.r.irr = (this.r.irr & ~level) | (this.r.lines & level);
  }

  /** Checks a saved register record; throws on a malformed one. */
  parse(record: StateRecord): ChipRegs {
    const regs = Chip.resetRegs();
    for (const key of ['irr', 'isr', 'imr', 'lines', 'icw1', 'icw3'] as const) {
      regs[key] = intField(STATE_DEVICE, record, key, 0, 0xff);
    }
    regs.elcr = intField(STATE_DEVICE, record, 'elcr', 0, this.#elcrMask);
    regs.base = intField(STATE_DEVICE, record, 'base', 0, 0xf8);
    regs.icw4 = intField(STATE_DEVICE, record, 'icw4', 0, 0x1f);
    regs.initStep = intField(STATE_DEVICE, record, 'initStep', 0, 4);
    regs.lowest = intField(STATE_DEVICE, record, 'lowest', 0, 7);
    if ((regs.elcr & ~this.#elcrMask) !== 0 || (regs.base & 7) !== 0 || regs.initStep === 1) {
      throw new Error(`${STATE_DEVICE} state: reserved bits set in "elcr", "base" or "initStep"`);
    }
    for (const key of ['readIsr', 'poll', 'specialMask', 'rotateAeoi'] as const) {
      regs[key] = boolField(STATE_DEVICE, record, key);
    }
    return regs;
  }

  #afterIcw3(): number {
    return this.r.icw1 & ICW1_IC4 ? 4 : 0;
  }

  // 8259A ICW1: the edge sense circuit is reset, IMR cleared, IR7 given the lowest priority,
  // special mask mode cleared, status read set to IRR, and without IC4 every ICW4 function
  // zeroed. Pending and in-service levels are also dropped: a controller initialized again
  // starts with nothing in service.
  #icw1(v: number): void {
    const r = this.r;
    r.icw1 = v;
    r.initStep = 2;
    r.imr = 0;
    r.isr = 0;
    r.lowest = 7;
    r.specialMask = false;
    r.readIsr = false;
    r.poll = false;
    r.rotateAeoi = false;
    if (!(v & ICW1_IC4)) r.icw4 = 0;
    r.irr = r.lines & this.levelMask;
  }

  #ocw2(v: number): void {
    const r = this.r;
    const level = v & 7;
    switch (v & 0xe0) {
      case OCW2_EOI:
      case OCW2_ROTATE_EOI: {
        // 8259A OCW2: a non-specific EOI resets the highest-priority ISR bit.
        const ir = this.first(r.isr);
        if (ir < 0) break;
        r.isr &= ~(1 << ir);
        if (v & 0x80) r.lowest = ir;
        break;
      }
      case OCW2_SPECIFIC_EOI:
        r.isr &= ~(1 << level);
        break;
      case OCW2_ROTATE_SPECIFIC_EOI:
        r.isr &= ~(1 << level);
        r.lowest = level;
        break;
      case OCW2_SET_PRIORITY:
        r.lowest = level;
        break;
      case OCW2_ROTATE_AEOI_SET:
        r.rotateAeoi = true;
        break;
      case OCW2_ROTATE_AEOI_CLEAR:
        r.rotateAeoi = false;
        break;
      default:
      // OCW2_NOP.
    }
  }

  #ocw3(v: number): void {
    if (v & OCW3_P) this.r.poll = true;
    if (v & OCW3_RR) this.r.readIsr = (v & OCW3_RIS) !== 0;
    if (v & OCW3_ESMM) this.r.specialMask = (v & OCW3_SMM) !== 0;
  }
}

/** Options of {@link I8259}. */
export interface I8259Options {
  /** Name for logs and the bus map; `pic` by default. */
  name?: string;
  /**
   * Called when the master's INT output changes, e.g. to ask the vCPU for an interrupt
   * window; {@link I8259.hasInterrupt} is the output's level.
   */
  onOutput?: (asserted: boolean) => void;
}

/**
 * The master/slave 8259A pair and the ELCR. Register it on the bus at {@link PIC_MASTER},
 * {@link PIC_SLAVE} and {@link ELCR}, two ports each.
 */
export class I8259 implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #master = new Chip(true);
  readonly #slave = new Chip(false);
  readonly #lines: readonly IrqLine[];
  readonly #onOutput: ((asserted: boolean) => void) | undefined;
  #output = false;

  /** A pair in its reset state: every input masked until the guest initializes it. */
  constructor(options: I8259Options = {}) {
    this.name = options.name ?? 'pic';
    this.#onOutput = options.onOutput;
    const lines: IrqLine[] = [];
    for (let n = 0; n < 16; n++) {
      lines.push({
        raise: () => {
          this.#setIrq(n, true);
        },
        lower: () => {
          this.#setIrq(n, false);
        },
        pulse: () => {
          this.#setIrq(n, true);
          this.#setIrq(n, false);
        },
      });
    }
    this.#lines = lines;
  }

  /**
   * The input for ISA IRQ `n`: 0-7 on the master, 8-15 on the slave. IRQ 2 is the cascade, so
   * as on AT boards the bus's IRQ2 pin is IRQ 9: `irq(2)` is `irq(9)`.
   * @throws RangeError for numbers outside 0-15
   */
  irq(n: number): IrqLine {
    const line = this.#lines[n === CASCADE_IRQ ? 9 : n];
    if (line === undefined) throw new RangeError(`${this.name}: no IRQ ${n} input`);
    return line;
  }

  /** The master's INT output: an unmasked request above every level in service. */
  hasInterrupt(): boolean {
    return this.#master.pending() >= 0;
  }

  /**
   * The INTA cycle: the vector of the request of highest priority, its ISR bit set and an
   * edge request cleared; a cascade input takes the vector from the slave. With nothing to
   * deliver (the request went away) the 8259A answers with its IR7 vector and sets no ISR
   * bit: spurious IRQ 7, or IRQ 15 from the slave, when the master's IR2 bit is still set.
   */
  acknowledge(): number {
    const master = this.#master;
    const ir = master.pending();
    let vector: number;
    if (ir < 0) {
      vector = master.r.base + 7;
    } else {
      master.intack(ir);
      if (master.cascadeMask & (1 << ir)) {
        const slave = this.#slave;
        const sir = slave.pending();
        if (sir >= 0) slave.intack(sir);
        vector = slave.r.base + (sir < 0 ? 7 : sir);
      } else {
        vector = master.r.base + ir;
      }
    }
    this.#update();
    return vector;
  }

  /** Reads a controller register: IRR/ISR or the poll word at A0 = 0, IMR at A0 = 1, ELCR. */
  pioRead(port: number): number {
    let value: number;
    const chip = this.#chipAt(port);
    if (port === ELCR || port === ELCR + 1) value = chip.r.elcr;
    else if (port & 1) value = chip.r.imr;
    else value = chip.readCommand();
    this.#update();
    return value;
  }

  /** Writes ICWs and OCWs (A0 = 0: ICW1, OCW2, OCW3; A0 = 1: ICW2-4, OCW1) or the ELCR. */
  pioWrite(port: number, _size: PioSize, value: number): void {
    const v = value & 0xff;
    const chip = this.#chipAt(port);
    if (port === ELCR || port === ELCR + 1) chip.writeElcr(v);
    else if (port & 1) chip.writeData(v);
    else chip.writeCommand(v);
    this.#update();
  }

  /** Puts both controllers back in their reset state; the input lines keep their levels. */
  reset(): void {
    for (const chip of [this.#master, this.#slave]) {
      const lines = chip.r.lines;
      chip.r = Chip.resetRegs();
      chip.r.lines = lines;
    }
    this.#update();
  }

  /** Both controllers' registers and input levels. */
  saveState(): DeviceState {
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      master: { ...this.#master.r },
      slave: { ...this.#slave.r },
    };
  }

  /**
   * Restores {@link saveState}'s record; the master's output callback is not called.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const master = this.#master.parse(recordField(STATE_DEVICE, state, 'master'));
    const slave = this.#slave.parse(recordField(STATE_DEVICE, state, 'slave'));
    this.#master.r = master;
    this.#slave.r = slave;
    this.#output = this.hasInterrupt();
  }

  // 0x20/0x21 and ELCR1 belong to the master, 0xa0/0xa1 and ELCR2 to the slave.
  #chipAt(port: number): Chip {
    return port === ELCR || (port & ~1) === PIC_MASTER ? this.#master : this.#slave;
  }

  #setIrq(n: number, level: boolean): void {
    if (n < 8) this.#master.setLine(n, level);
    else this.#slave.setLine(n - 8, level);
    this.#update();
  }

  // The slave's INT drives the master's IR2; the master's INT goes to the CPU.
  #update(): void {
    this.#master.setLine(CASCADE_IRQ, this.#slave.pending() >= 0);
    const output = this.hasInterrupt();
    if (output === this.#output) return;
    this.#output = output;
    this.#onOutput?.(output);
  }
}
