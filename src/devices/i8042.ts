/**
 * The PC/AT keyboard controller: an Intel 8042 (UPI-41/42 microcontroller) running IBM's
 * keyboard controller firmware, at ports 0x60 (data) and 0x64 (status on read, command on
 * write), with the keyboard's output-buffer-full interrupt on IRQ 1. References are to the IBM
 * Personal System/2 Hardware Interface Technical Reference, "Keyboard and Auxiliary Device
 * Controller" (status register, command byte, commands, output port), cited by section; the
 * register and bit names are those of the 8042 and of Linux's i8042 driver, which is what the
 * model must satisfy.
 *
 * What a VMM needs from it: Linux finds a keyboard (and no mouse) without waiting on time-outs,
 * the VMM can press Ctrl-Alt-Delete to ask the guest to shut down ({@link I8042.pressCtrlAltDel}),
 * and a guest that pulses the reset line (command 0xFE, or the output port's reset bit written
 * low) resets the machine ({@link I8042Options.onReset}): the PC's "reboot=k".
 *
 * No auxiliary (mouse) port: "Write Auxiliary Device Output Buffer" (0xD3) is not understood,
 * as on AT controllers, so its data byte reaches the keyboard, which answers Resend; Linux's
 * loopback test then fails and "Auxiliary Interface Test" reports the clock line stuck high,
 * which is how Linux concludes there is no AUX port. Timing is left out: the input buffer is
 * never full, and a byte is in the output buffer as soon as it exists.
 */

import type { PioSize } from '../engine/types.js';
import { Ps2Keyboard, CTRL_ALT_DEL_SET2 } from './ps2_keyboard.js';
import {
  arrayField,
  boolField,
  checkStateHeader,
  intField,
  intValue,
  recordField,
} from './state.js';
import type { DeviceState, IrqLine, PioDevice } from './types.js';

/** The data port: the output buffer on read, the input buffer (data) on write. */
export const I8042_DATA_PORT = 0x60;
/** The status register on read, the input buffer (command) on write. */
export const I8042_COMMAND_PORT = 0x64;
/** The keyboard's interrupt. */
export const I8042_KBD_IRQ = 1;

/** "Status Register" bit 0: output buffer full. */ export const STATUS_OBF = 0x01;
/** "Status Register" bit 1: input buffer full. */ export const STATUS_IBF = 0x02;
/** "Status Register" bit 2: system flag, as written in the command byte. */
export const STATUS_SYS = 0x04;
/** "Status Register" bit 3: command/data, set when the last write was to port 0x64. */
export const STATUS_CMD = 0x08;
/** "Status Register" bit 4: inhibit switch, 1 when the keyboard is not inhibited (Linux's KEYLOCK). */
export const STATUS_INH = 0x10;
/** "Status Register" bit 5: the output buffer holds auxiliary device data. */
export const STATUS_AUXDATA = 0x20;
/** "Status Register" bit 6: general time-out. */ export const STATUS_TIMEOUT = 0x40;
/** "Status Register" bit 7: parity error. */ export const STATUS_PARITY = 0x80;

/** "Command Byte" bit 0: interrupt (IRQ 1) when keyboard data is in the output buffer. */
export const CTR_KBDINT = 0x01;
/** "Command Byte" bit 1: interrupt (IRQ 12) for auxiliary data. */ export const CTR_AUXINT = 0x02;
/** "Command Byte" bit 2: system flag. */ export const CTR_SYS = 0x04;
/** "Command Byte" bit 3: inhibit override (AT). */ export const CTR_IGNKEYLOCK = 0x08;
/** "Command Byte" bit 4: keyboard interface disabled (its clock line held low). */
export const CTR_KBDDIS = 0x10;
/** "Command Byte" bit 5: auxiliary interface disabled. */ export const CTR_AUXDIS = 0x20;
/** "Command Byte" bit 6: translate keyboard scan codes to set 1 (IBM PC compatibility). */
export const CTR_XLATE = 0x40;
/**
 * The command byte as PC firmware leaves it for the operating system: translation on, the
 * keyboard interrupt enabled, the system flag set (self-test passed), the auxiliary port off.
 */
export const CTR_FIRMWARE = CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT;

/** "Read Command Byte". */ export const CMD_READ_CTR = 0x20;
/** "Write Command Byte": the next data byte is the command byte. */
export const CMD_WRITE_CTR = 0x60;
/** "Disable Auxiliary Device". */ export const CMD_AUX_DISABLE = 0xa7;
/** "Enable Auxiliary Device". */ export const CMD_AUX_ENABLE = 0xa8;
/** "Auxiliary Device Interface Test". */ export const CMD_AUX_TEST = 0xa9;
/** "Self-Test": answers {@link SELF_TEST_PASSED}. */ export const CMD_SELF_TEST = 0xaa;
/** "Keyboard Interface Test": answers {@link INTERFACE_OK}. */ export const CMD_KBD_TEST = 0xab;
/** "Disable Keyboard Interface". */ export const CMD_KBD_DISABLE = 0xad;
/** "Enable Keyboard Interface". */ export const CMD_KBD_ENABLE = 0xae;
/** "Read Output Port". */ export const CMD_READ_OUTPUT = 0xd0;
/** "Write Output Port": the next data byte is the output port. */
export const CMD_WRITE_OUTPUT = 0xd1;
/** "Write Keyboard Output Buffer": the next data byte appears as if from the keyboard. */
export const CMD_WRITE_KBD_OBUF = 0xd2;
/** "Write Auxiliary Device Output Buffer" (PS/2 only; not understood here). */
export const CMD_WRITE_AUX_OBUF = 0xd3;
/** "Write to Auxiliary Device": the next data byte goes to the (absent) mouse. */
export const CMD_WRITE_AUX = 0xd4;
/** "Pulse Output Port" with bit 0 low: pulses the reset line. */ export const CMD_RESET = 0xfe;

/** "Self-Test" result: no errors. */ export const SELF_TEST_PASSED = 0x55;
/** "Keyboard/Auxiliary Interface Test" result: no error. */ export const INTERFACE_OK = 0x00;
/** "Interface Test" result: clock line stuck high (nothing drives it). */
export const INTERFACE_CLOCK_HIGH = 0x02;

/** "Output Port" bit 0: system reset, active low. */ export const OUT_RESET = 0x01;
/** "Output Port" bit 1: gate A20. */ export const OUT_A20 = 0x02;
/** "Output Port" bit 4: output buffer full (keyboard, the IRQ 1 line). */
export const OUT_KBD_OBF = 0x10;

/**
 * The 8042's translation to scan code set 1 (command byte bit 6) for the set 2 codes this
 * keyboard sends: left Ctrl, left Alt, the Delete key's code after E0, and the second ID byte
 * (0x83, the F7 key's code, the one key above 0x7F). Codes from 0x80 up (responses, E0) pass
 * unchanged, and F0 (break) is absorbed, setting bit 7 of the next code.
 */
const SET2_TO_SET1: ReadonlyMap<number, number> = new Map([
  [0x14, 0x1d],
  [0x11, 0x38],
  [0x71, 0x53],
  [0x83, 0x41],
]);
const SET2_BREAK = 0xf0;

const STATE_DEVICE = 'i8042';
const STATE_VERSION = 1;
/** Controller commands whose next data byte is their parameter. */
const TAKES_DATA: readonly number[] = [
  CMD_WRITE_CTR,
  CMD_WRITE_OUTPUT,
  CMD_WRITE_KBD_OBUF,
  CMD_WRITE_AUX,
];
/** The most controller results that can wait (one per command; a few commands in a row). */
const MAX_RESULTS = 16;
const EMPTY = -1;

/** Options of {@link I8042}. */
export interface I8042Options {
  /** Name for logs and the bus map; `i8042` by default. */
  name?: string;
  /** The keyboard's output-buffer-full interrupt, IRQ 1. */
  irq: IrqLine;
  /** The guest pulsed the reset line: the machine resets. `reason` says how, for the log. */
  onReset: (reason: string) => void;
}

/**
 * The keyboard controller with its keyboard. Register it on the bus at
 * {@link I8042_DATA_PORT} and {@link I8042_COMMAND_PORT}, one port each.
 */
export class I8042 implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #irq: IrqLine;
  readonly #onReset: (reason: string) => void;
  readonly #keyboard = new Ps2Keyboard();
  #ctr = CTR_FIRMWARE;
  #outputPort = OUT_RESET | OUT_A20;
  /** The last write was to the command port (status bit 3). */
  #lastWasCommand = false;
  /** A controller command waiting for its data byte, or 0. */
  #command = 0;
  /** The output buffer's byte, or EMPTY. */
  #output = EMPTY;
  /** What the data port reads when the output buffer is empty: the byte read last. */
  #lastRead = 0;
  /** Results of controller commands waiting for the output buffer. */
  #results: number[] = [];
  /** Translation saw F0: the next key code is a break. */
  #breakPending = false;
  /** The guest has written to the controller: some driver took it over from the firmware. */
  #driverSeen = false;
  #irqAsserted = false;

  /** A controller as firmware leaves it ({@link CTR_FIRMWARE}), its keyboard scanning. */
  constructor(options: I8042Options) {
    this.name = options.name ?? 'i8042';
    this.#irq = options.irq;
    this.#onReset = options.onReset;
  }

  /** The command byte (the controller configuration byte). */
  get commandByte(): number {
    return this.#ctr;
  }

  /** The keyboard on the keyboard port. */
  get keyboard(): Ps2Keyboard {
    return this.#keyboard;
  }

  /** Whether the controller drives IRQ 1. */
  get irqAsserted(): boolean {
    return this.#irqAsserted;
  }

  /** The status register (port 0x64) or the output buffer (port 0x60), whatever the size. */
  pioRead(port: number): number {
    if (port !== I8042_DATA_PORT) return this.#status();
    const value = this.#output === EMPTY ? this.#lastRead : this.#output;
    this.#output = EMPTY;
    this.#lastRead = value;
    // The line falls as the buffer empties, so the next byte makes a new edge on the 8259.
    this.#updateIrq();
    this.#fill();
    return value;
  }

  /** A command (port 0x64) or a data byte (port 0x60): the low byte of `value`. */
  pioWrite(port: number, _size: PioSize, value: number): void {
    const v = value & 0xff;
    this.#driverSeen = true;
    if (port === I8042_DATA_PORT) this.#writeData(v);
    else this.#writeCommand(v);
    this.#fill();
  }

  /**
   * Presses and releases Ctrl-Alt-Delete on the keyboard: the guest reads the set 2 codes, or
   * with translation on their set 1 forms (1D 38 E0 53, then E0 D3 B8 9D). Returns false, and
   * presses nothing, when no driver would see it: the guest never wrote to the controller
   * (only firmware set it up), the keyboard is not scanning, or its interface is disabled or
   * its interrupt off.
   */
  pressCtrlAltDel(): boolean {
    const listening =
      this.#driverSeen &&
      this.#keyboard.scanning &&
      !(this.#ctr & CTR_KBDDIS) &&
      (this.#ctr & CTR_KBDINT) !== 0;
    if (!listening || !this.#keyboard.press(CTRL_ALT_DEL_SET2)) return false;
    this.#fill();
    return true;
  }

  #status(): number {
    return (
      (this.#output === EMPTY ? 0 : STATUS_OBF) |
      (this.#ctr & CTR_SYS ? STATUS_SYS : 0) |
      (this.#lastWasCommand ? STATUS_CMD : 0) |
      STATUS_INH
    );
  }

  #writeCommand(command: number): void {
    this.#lastWasCommand = true;
    this.#command = TAKES_DATA.includes(command) ? command : 0;
    switch (command) {
      case CMD_READ_CTR:
        this.#result(this.#ctr);
        return;
      case CMD_AUX_DISABLE:
        this.#ctr |= CTR_AUXDIS;
        return;
      case CMD_AUX_ENABLE:
        this.#ctr &= ~CTR_AUXDIS;
        return;
      case CMD_AUX_TEST:
        this.#result(INTERFACE_CLOCK_HIGH);
        return;
      case CMD_SELF_TEST:
        this.#result(SELF_TEST_PASSED);
        return;
      case CMD_KBD_TEST:
        this.#result(INTERFACE_OK);
        return;
      case CMD_KBD_DISABLE:
        this.#ctr |= CTR_KBDDIS;
        return;
      case CMD_KBD_ENABLE:
        this.#ctr &= ~CTR_KBDDIS;
        return;
      case CMD_READ_OUTPUT:
        this.#result(this.#outputPort | (this.#output === EMPTY ? 0 : OUT_KBD_OBF));
        return;
      default:
        // "Pulse Output Port" (F0-FF): a 0 in bit 0 of the command pulses the reset line.
        if (command >= 0xf0 && !(command & OUT_RESET)) {
          this.#onReset(`i8042 reset pulse (command 0x${command.toString(16)})`);
        }
      // Anything else (including 0xD3, see the file's comment) is not understood: ignored.
    }
  }

  #writeData(value: number): void {
    this.#lastWasCommand = false;
    const command = this.#command;
    this.#command = 0;
    switch (command) {
      case CMD_WRITE_CTR:
        this.#ctr = value;
        this.#updateIrq();
        return;
      case CMD_WRITE_OUTPUT:
        this.#outputPort = value & ~OUT_KBD_OBF;
        if (!(value & OUT_RESET)) this.#onReset('i8042 output port reset');
        return;
      case CMD_WRITE_KBD_OBUF:
        this.#result(value);
        return;
      case CMD_WRITE_AUX:
        return; // no auxiliary device to take it
      default:
        // Data for the keyboard: sending it releases an inhibited keyboard interface.
        this.#ctr &= ~CTR_KBDDIS;
        this.#keyboard.receive(value);
    }
  }

  #result(byte: number): void {
    this.#results.push(byte & 0xff);
    if (this.#results.length > MAX_RESULTS) this.#results.shift();
  }

  /** Loads the output buffer when it is empty: controller results first, then keyboard data. */
  #fill(): void {
    if (this.#output === EMPTY) {
      const result = this.#results.shift();
      if (result !== undefined) this.#output = result;
      else if (!(this.#ctr & CTR_KBDDIS)) this.#output = this.#fromKeyboard();
    }
    this.#updateIrq();
  }

  /** The next byte from the keyboard, translated when the command byte says so, or EMPTY. */
  #fromKeyboard(): number {
    for (;;) {
      const code = this.#keyboard.take();
      if (code === undefined) return EMPTY;
      if (!(this.#ctr & CTR_XLATE)) return code;
      if (code === SET2_BREAK) {
        this.#breakPending = true;
        continue;
      }
      const translated = code < 0x80 || code === 0x83 ? (SET2_TO_SET1.get(code) ?? code) : code;
      const release = this.#breakPending ? 0x80 : 0;
      this.#breakPending = false;
      return translated | release;
    }
  }

  #updateIrq(): void {
    const level = this.#output !== EMPTY && (this.#ctr & CTR_KBDINT) !== 0;
    if (level === this.#irqAsserted) return;
    this.#irqAsserted = level;
    if (level) this.#irq.raise();
    else this.#irq.lower();
  }

  /** The controller's and the keyboard's state. */
  saveState(): DeviceState {
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      ctr: this.#ctr,
      outputPort: this.#outputPort,
      lastWasCommand: this.#lastWasCommand,
      command: this.#command,
      output: this.#output,
      lastRead: this.#lastRead,
      results: [...this.#results],
      breakPending: this.#breakPending,
      driverSeen: this.#driverSeen,
      irqAsserted: this.#irqAsserted,
      keyboard: this.#keyboard.saveState(),
    };
  }

  /**
   * Restores {@link saveState}'s record. IRQ 1 is not driven: the interrupt controller restores
   * its own view of the line.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const d = STATE_DEVICE;
    const command = intField(d, state, 'command', 0, 0xff);
    if (command !== 0 && !TAKES_DATA.includes(command)) {
      throw new Error(`${d} state: "command" must be 0 or a command that takes data`);
    }
    const results = arrayField(d, state, 'results', 0, MAX_RESULTS).map((b, i) =>
      intValue(d, b, `"results[${i}]"`, 0, 0xff),
    );
    const fields = {
      ctr: intField(d, state, 'ctr', 0, 0xff),
      outputPort: intField(d, state, 'outputPort', 0, 0xff),
      lastWasCommand: boolField(d, state, 'lastWasCommand'),
      output: intField(d, state, 'output', EMPTY, 0xff),
      lastRead: intField(d, state, 'lastRead', 0, 0xff),
      breakPending: boolField(d, state, 'breakPending'),
      driverSeen: boolField(d, state, 'driverSeen'),
      irqAsserted: boolField(d, state, 'irqAsserted'),
    };
    // The keyboard checks its record before applying any of it; only then is ours applied.
    this.#keyboard.loadState(d, recordField(d, state, 'keyboard'));
    this.#command = command;
    this.#results = results;
    this.#ctr = fields.ctr;
    this.#outputPort = fields.outputPort;
    this.#lastWasCommand = fields.lastWasCommand;
    this.#output = fields.output;
    this.#lastRead = fields.lastRead;
    this.#breakPending = fields.breakPending;
    this.#driverSeen = fields.driverSeen;
    this.#irqAsserted = fields.irqAsserted;
  }
}
