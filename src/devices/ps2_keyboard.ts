/**
 * The keyboard behind the 8042's keyboard port: an IBM enhanced (MF II) keyboard speaking the
 * PS/2 keyboard protocol in scan code set 2, as described in the IBM Personal System/2
 * Hardware Interface Technical Reference ("Keyboard", "Commands from the System", "Commands to
 * the System"), cited below by command name.
 *
 * It has no key matrix: the VMM presses keys through {@link Ps2Keyboard.press}, and the only
 * sequence it sends today is Ctrl-Alt-Delete ({@link CTRL_ALT_DEL_SET2}). Bytes to the system
 * wait in the keyboard's buffer until the controller ({@link I8042}) takes them; a command from
 * the system is answered at once, without the protocol's timing.
 */

import { arrayField, boolField, intField, intValue, type StateRecord } from './state.js';

/** "Commands to the System": acknowledge. */ export const KBD_ACK = 0xfa;
/** "Commands to the System": BAT completion code (self-test passed). */
export const KBD_BAT_OK = 0xaa;
/** "Commands to the System": resend (the last byte from the system was not understood). */
export const KBD_RESEND = 0xfe;
/** "Commands to the System": echo response. */ export const KBD_ECHO = 0xee;
/** "Commands to the System": key detection error or buffer overrun, in scan code set 2. */
export const KBD_OVERRUN = 0x00;
/** "Read ID": the keyboard's two ID bytes. */
export const KBD_ID: readonly number[] = [0xab, 0x83];

/** "Set/Reset Mode Indicators": the next byte sets the LEDs. */ export const KBD_SET_LEDS = 0xed;
/** "Echo". */ export const KBD_CMD_ECHO = 0xee;
/** "Select Alternate Scan Codes": the next byte selects (1-3) or asks (0). */
export const KBD_SELECT_SET = 0xf0;
/** "Read ID". */ export const KBD_READ_ID = 0xf2;
/** "Set Typematic Rate/Delay": the next byte is the rate and delay. */
export const KBD_SET_TYPEMATIC = 0xf3;
/** "Enable": clears the buffer and starts scanning. */ export const KBD_ENABLE = 0xf4;
/** "Default Disable": resets to the defaults and stops scanning. */
export const KBD_DEFAULT_DISABLE = 0xf5;
/** "Set Default": resets to the defaults and goes on scanning. */
export const KBD_SET_DEFAULT = 0xf6;
/** "Resend": sends the last byte again. */ export const KBD_CMD_RESEND = 0xfe;
/** "Reset": acknowledges, runs the basic assurance test and sends its completion code. */
export const KBD_RESET = 0xff;

/** The scan code set the keyboard uses: set 2, the power-on default. */
export const SCAN_CODE_SET = 2;
/** "Set Typematic Rate/Delay": the power-on default, 10.9 characters/s after 500 ms. */
export const DEFAULT_TYPEMATIC = 0x2b;
/** The keyboard's buffer, in bytes ("Keyboard Buffer": 16 bytes). */
export const KBD_BUFFER_SIZE = 16;

/**
 * Ctrl-Alt-Delete pressed and released in scan code set 2: left Ctrl (14), left Alt (11) and
 * Delete (E0 71) made, then broken in the reverse order (F0 before a code marks its break).
 */
export const CTRL_ALT_DEL_SET2: readonly number[] = [
  0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14,
];

/**
 * The most answer bytes that can wait: a system that never reads could make more, so beyond
 * this the oldest are dropped (the real keyboard would not have taken the next command).
 */
const MAX_RESPONSES = 16;

/** Commands whose next byte from the system is their parameter. */
const TAKES_PARAMETER: ReadonlySet<number> = new Set([
  KBD_SET_LEDS,
  KBD_SELECT_SET,
  KBD_SET_TYPEMATIC,
]);

/** A PS/2 keyboard in scan code set 2; one instance per keyboard port. */
export class Ps2Keyboard {
  /** Answers to commands, which go to the system before any key code still buffered. */
  #responses: number[] = [];
  /** Key codes waiting to go to the system, oldest first. */
  #buffer: number[] = [];
  /** Scanning: key presses are reported (after "Enable", until "Default Disable"). */
  #scanning = true;
  /** A command waiting for its parameter byte, or 0. */
  #command = 0;
  #leds = 0;
  #typematic = DEFAULT_TYPEMATIC;
  /** The last byte sent to the system, for "Resend". */
  #lastSent = KBD_BAT_OK;

  /** Whether key presses are reported: the system has not disabled scanning. */
  get scanning(): boolean {
    return this.#scanning;
  }

  /** The mode indicators the system set: bit 0 Scroll Lock, 1 Num Lock, 2 Caps Lock. */
  get leds(): number {
    return this.#leds;
  }

  /** The typematic rate and delay byte the system set. */
  get typematic(): number {
    return this.#typematic;
  }

  /** True when a byte waits to go to the system. */
  get hasData(): boolean {
    return this.#responses.length > 0 || this.#buffer.length > 0;
  }

  /** Takes the next byte for the system (answers first, then key codes), or undefined. */
  take(): number | undefined {
    const byte = this.#responses.shift() ?? this.#buffer.shift();
    if (byte !== undefined) this.#lastSent = byte;
    return byte;
  }

  /**
   * Reports key events given as scan code set 2 bytes. Returns false, reporting nothing, when
   * scanning is disabled or the buffer has no room for all of them.
   */
  press(codes: readonly number[]): boolean {
    if (!this.#scanning || this.#buffer.length + codes.length > KBD_BUFFER_SIZE) return false;
    this.#buffer.push(...codes);
    return true;
  }

  /** A byte from the system: a command, or the parameter of the one before. */
  receive(byte: number): void {
    const b = byte & 0xff;
    // "Commands from the System": a command byte where a parameter was due starts a new command.
    if (this.#command !== 0 && b < 0x80) {
      this.#parameter(this.#command, b);
      this.#command = 0;
      return;
    }
    this.#command = 0;
    this.#execute(b);
  }

  /** The power-on state: defaults, scanning, empty buffer, nothing pending. */
  reset(): void {
    this.#setDefaults();
    this.#scanning = true;
    this.#command = 0;
    this.#lastSent = KBD_BAT_OK;
  }

  #execute(command: number): void {
    if (TAKES_PARAMETER.has(command)) {
      this.#command = command;
      this.#send(KBD_ACK);
      return;
    }
    switch (command) {
      case KBD_CMD_ECHO:
        this.#send(KBD_ECHO);
        return;
      case KBD_READ_ID:
        this.#send(KBD_ACK, ...KBD_ID);
        return;
      case KBD_ENABLE:
        this.#buffer = [];
        this.#scanning = true;
        this.#send(KBD_ACK);
        return;
      case KBD_DEFAULT_DISABLE:
        this.#setDefaults();
        this.#scanning = false;
        this.#send(KBD_ACK);
        return;
      case KBD_SET_DEFAULT:
        this.#setDefaults();
        this.#scanning = true;
        this.#send(KBD_ACK);
        return;
      case KBD_CMD_RESEND:
        this.#send(this.#lastSent);
        return;
      case KBD_RESET:
        this.reset();
        this.#send(KBD_ACK, KBD_BAT_OK);
        return;
      default:
        // Commands of scan code set 3 (F7-FD) and anything unknown: "Resend".
        this.#send(KBD_RESEND);
    }
  }

  #parameter(command: number, value: number): void {
    switch (command) {
      case KBD_SET_LEDS:
        this.#leds = value & 0x07;
        this.#send(KBD_ACK);
        return;
      case KBD_SET_TYPEMATIC:
        this.#typematic = value & 0x7f;
        this.#send(KBD_ACK);
        return;
      default:
        // KBD_SELECT_SET: only set 2 is offered; 0 asks which set is in use.
        if (value === 0) this.#send(KBD_ACK, SCAN_CODE_SET);
        else this.#send(value === SCAN_CODE_SET ? KBD_ACK : KBD_RESEND);
    }
  }

  #setDefaults(): void {
    this.#buffer = [];
    this.#responses = [];
    this.#leds = 0;
    this.#typematic = DEFAULT_TYPEMATIC;
  }

  /** The keyboard stops scanning to answer a command, so its answer overtakes key codes. */
  #send(...bytes: number[]): void {
    this.#responses.push(...bytes);
    if (this.#responses.length > MAX_RESPONSES)
      this.#responses.splice(0, this.#responses.length - MAX_RESPONSES);
  }

  /** The keyboard's state, as a record nested in the controller's. */
  saveState(): StateRecord {
    return {
      responses: [...this.#responses],
      buffer: [...this.#buffer],
      scanning: this.#scanning,
      command: this.#command,
      leds: this.#leds,
      typematic: this.#typematic,
      lastSent: this.#lastSent,
    };
  }

  /**
   * Restores what {@link saveState} returned; `device` names the owner in messages.
   * @throws Error when a field is missing or out of range (nothing is applied then)
   */
  loadState(device: string, record: StateRecord): void {
    const bytes = (key: string, max: number): number[] =>
      arrayField(device, record, key, 0, max).map((b, i) =>
        intValue(device, b, `"keyboard.${key}[${i}]"`, 0, 0xff),
      );
    const responses = bytes('responses', MAX_RESPONSES);
    const buffer = bytes('buffer', KBD_BUFFER_SIZE);
    const command = intField(device, record, 'command', 0, 0xff);
    if (command !== 0 && !TAKES_PARAMETER.has(command)) {
      throw new Error(`${device} state: "command" must be 0 or a command with a parameter`);
    }
    const fields = {
      scanning: boolField(device, record, 'scanning'),
      leds: intField(device, record, 'leds', 0, 0x07),
      typematic: intField(device, record, 'typematic', 0, 0x7f),
      lastSent: intField(device, record, 'lastSent', 0, 0xff),
    };
    this.#responses = responses;
    this.#buffer = buffer;
    this.#command = command;
    this.#scanning = fields.scanning;
    this.#leds = fields.leds;
    this.#typematic = fields.typematic;
    this.#lastSent = fields.lastSent;
  }
}
