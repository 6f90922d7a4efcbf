/**
 * The PC serial port: a National Semiconductor PC16550D-compatible UART (what Linux calls a
 * 16550A), as at COM1 (0x3f8, IRQ 4). References are to the register descriptions and tables
 * of the PC16550D datasheet (National Semiconductor, June 1995), cited by register and bit or
 * by table title ("Interrupt Control Functions", "UART Reset Configuration").
 *
 * The line is not a wire but a byte stream to a console back-end, so timing is left out:
 * a byte written to THR is sent at once (THRE and TEMT never drop), and received bytes land
 * in the FIFO as soon as the back-end delivers them. Accesses of 2 or 4 bytes act on the one
 * register at the port addressed (reads zero-extend it, writes use the low byte); a real
 * ISA bus would split them into byte cycles, but serial drivers only make byte accesses.
 */

import type { PioSize } from '../engine/types.js';
import type { CharBackend, DeviceState, IrqLine, PioDevice } from './types.js';

// Register offsets from the base port: address lines A0-A2, with DLAB choosing at 0 and 1.
/** Receiver Buffer Register (read, DLAB = 0). */ export const RBR = 0;
/** Transmitter Holding Register (write, DLAB = 0). */ export const THR = 0;
/** Divisor Latch, low byte (DLAB = 1). */ export const DLL = 0;
/** Interrupt Enable Register (DLAB = 0). */ export const IER = 1;
/** Divisor Latch, high byte (DLAB = 1). */ export const DLM = 1;
/** Interrupt Identification Register (read). */ export const IIR = 2;
/** FIFO Control Register (write). */ export const FCR = 2;
/** Line Control Register. */ export const LCR = 3;
/** MODEM Control Register. */ export const MCR = 4;
/** Line Status Register. */ export const LSR = 5;
/** MODEM Status Register. */ export const MSR = 6;
/** Scratch Register. */ export const SCR = 7;

/** IER: enable received data available interrupt. */ export const IER_ERBFI = 0x01;
/** IER: enable transmitter holding register empty interrupt. */ export const IER_ETBEI = 0x02;
/** IER: enable receiver line status interrupt. */ export const IER_ELSI = 0x04;
/** IER: enable MODEM status interrupt. */ export const IER_EDSSI = 0x08;

/** IIR bit 0: no interrupt pending (the bit is active low). */ export const IIR_NO_INT = 0x01;
/** IIR: MODEM status (priority 4). */ export const IIR_MSI = 0x00;
/** IIR: transmitter holding register empty (priority 3). */ export const IIR_THRI = 0x02;
/** IIR: received data available (priority 2). */ export const IIR_RDI = 0x04;
/** IIR: receiver line status (priority 1, highest). */ export const IIR_RLSI = 0x06;
/** IIR: character timeout indication (priority 2, FIFO mode). */ export const IIR_CTI = 0x0c;
/** IIR bits 6-7: set while the FIFOs are enabled. */ export const IIR_FIFO_ENABLED = 0xc0;

/** FCR bit 0: enable both FIFOs. */ export const FCR_FE = 0x01;
/** FCR bit 1: reset the receiver FIFO (self-clearing). */ export const FCR_RFR = 0x02;
/** FCR bit 2: reset the transmitter FIFO (self-clearing). */ export const FCR_TFR = 0x04;
/** FCR bit 3: DMA mode select (no DMA here; accepted). */ export const FCR_DMS = 0x08;
/** FCR bits 6-7: receiver trigger level of 1 byte. */ export const FCR_TRIGGER_1 = 0x00;
/** FCR bits 6-7: receiver trigger level of 4 bytes. */ export const FCR_TRIGGER_4 = 0x40;
/** FCR bits 6-7: receiver trigger level of 8 bytes. */ export const FCR_TRIGGER_8 = 0x80;
/** FCR bits 6-7: receiver trigger level of 14 bytes. */ export const FCR_TRIGGER_14 = 0xc0;

/** LCR bits 0-1: word length select. */ export const LCR_WLS = 0x03;
/** LCR bit 2: number of stop bits. */ export const LCR_STB = 0x04;
/** LCR bit 3: parity enable. */ export const LCR_PEN = 0x08;
/** LCR bit 4: even parity select. */ export const LCR_EPS = 0x10;
/** LCR bit 5: stick parity. */ export const LCR_SP = 0x20;
/** LCR bit 6: set break. */ export const LCR_SBC = 0x40;
/** LCR bit 7: divisor latch access bit. */ export const LCR_DLAB = 0x80;

/** MCR bit 0: data terminal ready. */ export const MCR_DTR = 0x01;
/** MCR bit 1: request to send. */ export const MCR_RTS = 0x02;
/** MCR bit 2: OUT 1. */ export const MCR_OUT1 = 0x04;
/** MCR bit 3: OUT 2, which gates the UART's IRQ on PCs. */ export const MCR_OUT2 = 0x08;
/** MCR bit 4: loopback (diagnostic) mode. */ export const MCR_LOOP = 0x10;

/** LSR bit 0: data ready. */ export const LSR_DR = 0x01;
/** LSR bit 1: overrun error. */ export const LSR_OE = 0x02;
/** LSR bit 2: parity error. */ export const LSR_PE = 0x04;
/** LSR bit 3: framing error. */ export const LSR_FE = 0x08;
/** LSR bit 4: break interrupt. */ export const LSR_BI = 0x10;
/** LSR bit 5: transmitter holding register empty. */ export const LSR_THRE = 0x20;
/** LSR bit 6: transmitter empty. */ export const LSR_TEMT = 0x40;
/** LSR bit 7: error in receiver FIFO. */ export const LSR_FIFOE = 0x80;

/** MSR bit 0: delta clear to send. */ export const MSR_DCTS = 0x01;
/** MSR bit 1: delta data set ready. */ export const MSR_DDSR = 0x02;
/** MSR bit 2: trailing edge ring indicator. */ export const MSR_TERI = 0x04;
/** MSR bit 3: delta data carrier detect. */ export const MSR_DDCD = 0x08;
/** MSR bit 4: clear to send. */ export const MSR_CTS = 0x10;
/** MSR bit 5: data set ready. */ export const MSR_DSR = 0x20;
/** MSR bit 6: ring indicator. */ export const MSR_RI = 0x40;
/** MSR bit 7: data carrier detect. */ export const MSR_DCD = 0x80;

/** Depth of the receiver FIFO. */ export const FIFO_SIZE = 16;

const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
const MSR_DELTAS = MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD;
const MSR_LINES = MSR_CTS | MSR_DSR | MSR_RI | MSR_DCD;
const TRIGGER_LEVELS = [1, 4, 8, 14] as const;
const TX_BUFFER_SIZE = 256;
const STATE_DEVICE = 'ns8250';
const STATE_VERSION = 1;

/** Options of {@link Ns8250}. */
export interface Ns8250Options {
  /** Name for logs and the bus map, e.g. `com1`. */
  name: string;
  /** The UART's interrupt line (IRQ 4 for COM1). */
  irq: IrqLine;
  /** Where transmitted bytes go. */
  backend: CharBackend;
}

// MCR bit 4: loopback wires the modem outputs to the inputs: DTR->DSR, RTS->CTS, OUT1->RI,
// OUT2->DCD.
function loopbackLines(mcr: number): number {
  return (
    (mcr & MCR_DTR ? MSR_DSR : 0) |
    (mcr & MCR_RTS ? MSR_CTS : 0) |
    (mcr & MCR_OUT1 ? MSR_RI : 0) |
    (mcr & MCR_OUT2 ? MSR_DCD : 0)
  );
}

/** The registers and latched conditions: all of the chip's state but the receive FIFO. */
interface Registers {
  ier: number;
  lcr: number;
  mcr: number;
  scr: number;
  dll: number;
  dlm: number;
  /** FCR bits 6-7, an index into TRIGGER_LEVELS. */
  trigger: number;
  /** The byte last read from RBR, which an empty receiver keeps showing. */
  rbr: number;
  /** LSR bits 1-4, latched until LSR is read. */
  lsrErrors: number;
  /** MSR bits 0-3, latched until MSR is read. */
  msrDeltas: number;
  /** MSR bits 4-7 as driven from outside; a console is a connected, ready terminal. */
  modemLines: number;
  fifoEnabled: boolean;
  thriPending: boolean;
}

// The numeric fields of a saved state and the bits each may hold.
const FIELD_BITS = {
  ier: 0x0f,
  lcr: 0xff,
  mcr: 0x1f,
  scr: 0xff,
  dll: 0xff,
  dlm: 0xff,
  trigger: 0x03,
  rbr: 0xff,
  lsrErrors: LSR_ERRORS,
  msrDeltas: MSR_DELTAS,
  modemLines: MSR_LINES,
} as const;

function checkBits(v: unknown, key: string, bits: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (v & ~bits) !== 0) {
    throw new Error(`ns8250 state: "${key}" must be an integer within 0x${bits.toString(16)}`);
  }
  return v;
}

function checkBool(v: unknown, key: string): boolean {
  if (typeof v !== 'boolean') throw new Error(`ns8250 state: "${key}" must be a boolean`);
  return v;
}

/** A 16550A UART on 8 consecutive ports; the low 3 port bits select the register. */
export class Ns8250 implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #irq: IrqLine;
  readonly #backend: CharBackend;
  #r: Registers = {
    ier: 0,
    lcr: 0,
    mcr: 0,
    scr: 0,
    // Master reset leaves the divisor alone; 12 is 9600 bps at 1.8432 MHz, as firmware sets.
    dll: 12,
    dlm: 0,
    trigger: 0,
    rbr: 0,
    lsrErrors: 0,
    msrDeltas: 0,
    modemLines: MSR_DCD | MSR_DSR | MSR_CTS,
    fifoEnabled: false,
    thriPending: false,
  };
  readonly #rx = new Uint8Array(FIFO_SIZE);
  #rxHead = 0;
  #rxCount = 0;
  #irqAsserted = false;
  readonly #tx = new Uint8Array(TX_BUFFER_SIZE);
  #txCount = 0;

  /** A UART in its master-reset state with its interrupt line low. */
  constructor(options: Ns8250Options) {
    this.name = options.name;
    this.#irq = options.irq;
    this.#backend = options.backend;
  }

  /** The baud-rate divisor the guest programmed (DLM:DLL). */
  get divisor(): number {
    return (this.#r.dlm << 8) | this.#r.dll;
  }

  /** Whether this UART is driving its interrupt line. */
  get irqAsserted(): boolean {
    return this.#irqAsserted;
  }

  /** Reads the register at `port & 7`, whatever the access size. */
  pioRead(port: number): number {
    const dlab = (this.#r.lcr & LCR_DLAB) !== 0;
    let value: number;
    switch (port & 7) {
      case RBR:
        value = dlab ? this.#r.dll : this.#readRbr();
        break;
      case IER:
        value = dlab ? this.#r.dlm : this.#r.ier;
        break;
      case IIR:
        value = this.#readIir();
        break;
      case LCR:
        value = this.#r.lcr;
        break;
      case MCR:
        value = this.#r.mcr;
        break;
      case LSR:
        value = this.#lsr();
        // LSR bits 1-4: OE, PE, FE and BI reset when the CPU reads LSR.
        this.#r.lsrErrors = 0;
        break;
      case MSR:
        value = this.#modemStatus() | this.#r.msrDeltas;
        // MSR bits 0-3: the delta bits reset when the CPU reads MSR.
        this.#r.msrDeltas = 0;
        break;
      default:
        value = this.#r.scr;
    }
    this.#updateIrq();
    return value;
  }

  /** Writes the low byte of `value` to the register at `port & 7`. */
  pioWrite(port: number, _size: PioSize, value: number): void {
    const v = value & 0xff;
    const dlab = (this.#r.lcr & LCR_DLAB) !== 0;
    switch (port & 7) {
      case THR:
        if (dlab) this.#r.dll = v;
        else this.#writeThr(v);
        break;
      case IER:
        if (dlab) this.#r.dlm = v;
        else this.#writeIer(v);
        break;
      case FCR:
        this.#writeFcr(v);
        break;
      case LCR:
        // Break (LCR_SBC) has no meaning on a byte stream; the bit only reads back.
        this.#r.lcr = v;
        break;
      case MCR:
        this.#writeMcr(v);
        break;
      case LSR:
      case MSR:
        // LSR is for reading only (writing it is a factory test); MSR mirrors inputs. Ignored.
        break;
      default:
        this.#r.scr = v;
    }
    this.#updateIrq();
  }

  /**
   * Delivers bytes from the back-end to the receiver. Bytes beyond {@link rxSpace} overrun
   * (LSR_OE); in loopback mode the serial input is disconnected and bytes are discarded.
   */
  receive(bytes: Uint8Array): void {
    if (this.#r.mcr & MCR_LOOP) return;
    for (const b of bytes) this.#receiveByte(b);
    this.#updateIrq();
  }

  /** How many bytes {@link receive} can take now without overrun; the back-end holds the rest. */
  rxSpace(): number {
    if (this.#r.mcr & MCR_LOOP) return 0;
    return this.#rxCapacity() - this.#rxCount;
  }

  /**
   * Sets the modem inputs CTS, DSR, RI and DCD (the MSR_* line bits of `lines`), e.g. DCD off
   * when the console hangs up. Changes set the MSR delta bits as an edge on the pin would.
   */
  setModemLines(lines: number): void {
    const before = this.#modemStatus();
    this.#r.modemLines = lines & MSR_LINES;
    this.#noteModemChange(before);
    this.#updateIrq();
  }

  /**
   * Hands bytes the guest transmitted to the back-end. THR writes are gathered so a burst of
   * output costs one back-end call; the owner calls this after each vCPU run and before
   * pausing (the buffer also flushes itself when full). The back-end gets its own copy.
   */
  flush(): void {
    if (this.#txCount === 0) return;
    const data = this.#tx.slice(0, this.#txCount);
    this.#txCount = 0;
    this.#backend.write(data);
  }

  /** Master reset ("UART Reset Configuration"); SCR and the divisor latch are not affected. */
  reset(): void {
    this.flush();
    const before = this.#modemStatus();
    const r = this.#r;
    r.ier = r.lcr = r.mcr = r.trigger = r.lsrErrors = 0;
    r.fifoEnabled = r.thriPending = false;
    this.#clearRx();
    this.#noteModemChange(before);
    // The reset value of MSR bits 0-3 is 0, whatever the reset did to the loopback lines.
    this.#r.msrDeltas = 0;
    this.#updateIrq();
  }

  /** Every register, the receive FIFO and the pending-interrupt state; flushes output first. */
  saveState(): DeviceState {
    this.flush();
    const rx: number[] = [];
    for (let i = 0; i < this.#rxCount; i++) rx.push(this.#rx[(this.#rxHead + i) % FIFO_SIZE] ?? 0);
    return { device: STATE_DEVICE, version: STATE_VERSION, ...this.#r, rx };
  }

  /**
   * Restores {@link saveState}'s record. The interrupt line is not driven: the interrupt
   * controller restores its own view of it from the same snapshot.
   * @throws Error when the record is of another device or version or is malformed; the UART
   * is then left as it was
   */
  loadState(state: DeviceState): void {
    if (state.device !== STATE_DEVICE || state.version !== STATE_VERSION) {
      throw new Error(
        `${this.name}: cannot load state of ${state.device} version ${state.version}` +
          ` (expected ${STATE_DEVICE} version ${STATE_VERSION})`,
      );
    }
    const r = { ...this.#r };
    for (const key of Object.keys(FIELD_BITS) as (keyof typeof FIELD_BITS)[]) {
      r[key] = checkBits(state[key], key, FIELD_BITS[key]);
    }
    r.fifoEnabled = checkBool(state.fifoEnabled, 'fifoEnabled');
    r.thriPending = checkBool(state.thriPending, 'thriPending');
    const rx = state.rx;
    const capacity = r.fifoEnabled ? FIFO_SIZE : 1;
    if (!Array.isArray(rx) || rx.length > capacity) {
      throw new Error(`ns8250 state: "rx" must be an array of at most ${capacity} bytes`);
    }
    const bytes = rx.map((b: unknown, i) => checkBits(b, `rx[${i}]`, 0xff));
    this.flush();
    this.#r = r;
    this.#clearRx();
    this.#rx.set(bytes);
    this.#rxCount = bytes.length;
    this.#irqAsserted = this.#irqLevel();
  }

  #readRbr(): number {
    if (this.#rxCount > 0) {
      this.#r.rbr = this.#rx[this.#rxHead] ?? 0;
      this.#rxHead = (this.#rxHead + 1) % FIFO_SIZE;
      this.#rxCount--;
    }
    return this.#r.rbr;
  }

  #readIir(): number {
    const id = this.#interruptId();
    // Interrupt Control Functions: THRE resets on reading IIR while it is the source.
    if (id === IIR_THRI) this.#r.thriPending = false;
    return id | (this.#r.fifoEnabled ? IIR_FIFO_ENABLED : 0);
  }

  #writeThr(v: number): void {
    // Interrupt Control Functions: writing THR resets THRE; the line drops before the byte goes.
    this.#r.thriPending = false;
    this.#updateIrq();
    if (this.#r.mcr & MCR_LOOP) {
      // MCR bit 4: in loopback the transmitter output feeds the receiver input.
      this.#receiveByte(v);
    } else {
      this.#tx[this.#txCount++] = v;
      if (this.#txCount === TX_BUFFER_SIZE) this.flush();
    }
    // The byte left at once, so THR is empty again and its interrupt pending.
    this.#r.thriPending = true;
  }

  #writeIer(v: number): void {
    const changed = this.#r.ier ^ v;
    // IER bits 4-7 are always 0; Linux probes for an XScale UART by writing bit 6.
    this.#r.ier = v & 0x0f;
    // THR is always empty here, so enabling ETBEI finds it empty and interrupts, as a 16550
    // does; Linux's 8250 driver tests exactly this (UART_BUG_TXEN, UART_BUG_THRE).
    if (changed & IER_ETBEI) this.#r.thriPending = (this.#r.ier & IER_ETBEI) !== 0;
  }

  #writeFcr(v: number): void {
    const enable = (v & FCR_FE) !== 0;
    // FCR bit 0: switching between FIFO and 16450 mode clears the FIFOs.
    if (enable !== this.#r.fifoEnabled) {
      this.#r.fifoEnabled = enable;
      this.#clearRx();
    }
    // FCR bit 0: the other bits are programmed only when FCR0 is written as 1.
    if (!enable) return;
    if (v & FCR_RFR) this.#clearRx();
    // FCR_TFR: the transmitter has nothing queued to discard, and FCR_DMS has no DMA to steer.
    this.#r.trigger = v >> 6;
  }

  #writeMcr(v: number): void {
    const before = this.#modemStatus();
    // MCR bits 5-7 are always 0.
    this.#r.mcr = v & 0x1f;
    this.#noteModemChange(before);
  }

  #receiveByte(b: number): void {
    if (this.#rxCount < this.#rxCapacity()) {
      this.#rx[(this.#rxHead + this.#rxCount) % FIFO_SIZE] = b;
      this.#rxCount++;
      return;
    }
    // LSR bit 1: in FIFO mode the new character is lost; in 16450 mode it overwrites the
    // unread one in RBR.
    this.#r.lsrErrors |= LSR_OE;
    if (!this.#r.fifoEnabled) this.#rx[this.#rxHead] = b;
  }

  #rxCapacity(): number {
    return this.#r.fifoEnabled ? FIFO_SIZE : 1;
  }

  #clearRx(): void {
    this.#rxHead = 0;
    this.#rxCount = 0;
  }

  #lsr(): number {
    // THRE and TEMT: every byte has left by the time the guest can look.
    return (this.#rxCount > 0 ? LSR_DR : 0) | this.#r.lsrErrors | LSR_THRE | LSR_TEMT;
  }

  #modemStatus(): number {
    return this.#r.mcr & MCR_LOOP ? loopbackLines(this.#r.mcr) : this.#r.modemLines;
  }

  // MSR bits 0-3: DCTS, DDSR and DDCD flag any change of their line; TERI flags RI going
  // inactive (the trailing edge of a ring).
  #noteModemChange(before: number): void {
    const after = this.#modemStatus();
    const changed = before ^ after;
    if (changed & MSR_CTS) this.#r.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.#r.msrDeltas |= MSR_DDSR;
    if (changed & MSR_DCD) this.#r.msrDeltas |= MSR_DDCD;
    if (before & MSR_RI && !(after & MSR_RI)) this.#r.msrDeltas |= MSR_TERI;
  }

  // Interrupt Control Functions, highest priority first. Character timeout is simplified: a
  // FIFO holding fewer bytes than the trigger level reports CTI at once rather than after four
  // character times, since no time passes on this line; the guest reads the same bytes.
  #interruptId(): number {
    const ier = this.#r.ier;
    if (ier & IER_ELSI && this.#r.lsrErrors & LSR_ERRORS) return IIR_RLSI;
    if (ier & IER_ERBFI && this.#rxCount > 0) {
      const trigger = TRIGGER_LEVELS[this.#r.trigger] ?? 1;
      return this.#r.fifoEnabled && this.#rxCount < trigger ? IIR_CTI : IIR_RDI;
    }
    if (ier & IER_ETBEI && this.#r.thriPending) return IIR_THRI;
    if (ier & IER_EDSSI && this.#r.msrDeltas) return IIR_MSI;
    return IIR_NO_INT;
  }

  // PCs route the UART's INTR through a buffer enabled by the OUT2 pin; loopback forces the
  // output pins inactive (MCR bit 4), which disconnects the interrupt too.
  #irqLevel(): boolean {
    const gated = (this.#r.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    return gated && this.#interruptId() !== IIR_NO_INT;
  }

  // Only transitions reach the line: an edge-triggered 8259 would latch every raise().
  #updateIrq(): void {
    const level = this.#irqLevel();
    if (level === this.#irqAsserted) return;
    this.#irqAsserted = level;
    if (level) this.#irq.raise();
    else this.#irq.lower();
  }
}
