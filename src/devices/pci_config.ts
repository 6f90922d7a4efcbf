/**
 * A PCI function's type 0 configuration space (PCI Local Bus Specification 2.1, "PCI: 6.1
 * Configuration Space Organization"): the identity, the command and status registers, the
 * base address registers with their sizing protocol, the interrupt line and pin, and the
 * function's INTx# output. The host bridge (pci_host.ts) reaches it through configuration
 * mechanism #1 and routes I/O cycles to the BARs it decodes.
 */

import type { PioSize } from '../engine/types.js';
import { bytesField, checkStateHeader } from './state.js';
import type { DeviceState, IrqLine, Snapshotable } from './types.js';

/** Bytes of a function's configuration space through mechanism #1. */
export const PCI_CONFIG_SIZE = 256;

/** Header offset of the vendor ID (16 bits), then the device ID (16 bits). */
export const PCI_VENDOR_ID = 0x00;
/** Command (16 bits) and status (16 bits). */ export const PCI_COMMAND = 0x04;
/** Status register. */ export const PCI_STATUS = 0x06;
/** Revision ID, then the class code (3 bytes). */ export const PCI_REVISION_ID = 0x08;
/** Header type; bit 7 marks a multi-function device. */ export const PCI_HEADER_TYPE = 0x0e;
/** BAR 0; BARs 1-5 follow. */ export const PCI_BAR0 = 0x10;
/** Number of BARs in a type 0 header. */ export const PCI_BAR_COUNT = 6;
/** Subsystem vendor ID, then subsystem ID. */ export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
/** Interrupt line (written by software), then interrupt pin. */
export const PCI_INTERRUPT_LINE = 0x3c;
/** Interrupt pin (read only): 0 none, 1-4 INTA#-INTD#. */
export const PCI_INTERRUPT_PIN = 0x3d;

/** Command bit 0: respond to I/O space. */ export const PCI_COMMAND_IO = 0x0001;
/** Command bit 1: respond to memory space. */ export const PCI_COMMAND_MEMORY = 0x0002;
/** Command bit 2: bus master. */ export const PCI_COMMAND_MASTER = 0x0004;
/** Command bit 10: interrupt disable. */ export const PCI_COMMAND_INTX_DISABLE = 0x0400;
/** Status bit 3: the function's INTx# is asserted (read only). */
export const PCI_STATUS_INTERRUPT = 0x0008;
/** Status bit 4: a capabilities list is present. */ export const PCI_STATUS_CAP_LIST = 0x0010;
/** BAR bit 0: an I/O space BAR. */ export const PCI_BAR_IO = 0x01;
/** BAR bits 1-2 = 10: a 64-bit memory BAR. */ export const PCI_BAR_MEM64 = 0x04;
/** BAR bit 3: prefetchable memory. */ export const PCI_BAR_PREFETCH = 0x08;
/** Interrupt pin value of INTA#. */ export const PCI_INTERRUPT_PIN_INTA = 1;

// PCI: command bits software may set on a simple function: I/O, memory, bus master, parity
// error response, SERR# enable, interrupt disable.
const COMMAND_WRITABLE = 0x0547;
// PCI: status bits that are cleared by writing 1: master data parity error, signaled target
// abort, received target and master abort, signaled system error, detected parity error.
const STATUS_WRITE_CLEAR = 0xf900;
const STATE_DEVICE = 'pci-function';
const STATE_VERSION = 1;

/** An I/O range a function decodes now: BAR `bar` at ports `[base, base + size)`. */
export interface PciIoRange {
  readonly bar: number;
  readonly base: number;
  readonly size: number;
}

/** A function's configuration space as the host bridge reaches it. */
export interface PciFunction extends Snapshotable {
  /** Name for logs, e.g. `virtio-blk`. */
  readonly name: string;
  /** The dword at `offset` (a multiple of 4 below {@link PCI_CONFIG_SIZE}). */
  configRead(offset: number): number;
  /**
   * Writes the bytes of `value` selected by `byteMask` (bit n for byte n) into the dword at
   * `offset`; read-only bits keep their value.
   */
  configWrite(offset: number, value: number, byteMask: number): void;
  /** BAR `index`'s programmed address, or undefined when the function has no such BAR. */
  barAddress(index: number): number | undefined;
  /** The I/O BARs decoded now: programmed, below 64 KiB, with I/O space enabled. */
  ioRanges(): readonly PciIoRange[];
  /** A read of `size` bytes at `offset` in I/O BAR `bar`. */
  ioRead(bar: number, offset: number, size: PioSize): number;
  /** A write of the low `size` bytes of `value` at `offset` in I/O BAR `bar`. */
  ioWrite(bar: number, offset: number, size: PioSize, value: number): void;
}

/** One base address register (PCI: 6.2.5). */
export interface PciBar {
  /** I/O space, or 32- or 64-bit memory space (a 64-bit BAR takes two slots). */
  readonly kind: 'io' | 'memory32' | 'memory64';
  /** Size in bytes: a power of two, at least 4 for I/O and 16 for memory. */
  readonly size: number;
  /** Memory only: reads have no side effects. */
  readonly prefetchable?: boolean;
}

/** The fixed part of a type 0 configuration header. */
export interface PciIdentity {
  /** Vendor ID, assigned by the PCI SIG. */
  vendorId: number;
  /** Device ID, assigned by the vendor. */
  deviceId: number;
  /** Revision ID. */
  revision: number;
  /** Base class, sub-class and programming interface, as 24 bits. */
  classCode: number;
  /** Header type byte; 0 for a single-function device. */
  headerType?: number;
  /** Subsystem vendor ID; 0 by default. */
  subsystemVendorId?: number;
  /** Subsystem ID; 0 by default. */
  subsystemId?: number;
  /** Interrupt pin: 0 none, 1-4 INTA#-INTD#. */
  interruptPin?: number;
  /** Command register at reset. */
  command?: number;
  /** Status register at reset. */
  status?: number;
  /** BARs from BAR 0 up; undefined slots are unimplemented (and follow a 64-bit BAR). */
  bars?: readonly (PciBar | undefined)[];
  /** Whether bytes 0x40-0xff (device specific) are read/write storage; default false. */
  deviceSpecificWritable?: boolean;
}

/** Where a function's I/O BAR accesses and its INTx# output go. */
export interface PciFunctionOptions {
  /** The interrupt controller input INTx# is routed to; none by default. */
  irq?: IrqLine;
  /** Reads of the function's I/O BARs; all ones by default. */
  ioRead?: (bar: number, offset: number, size: PioSize) => number;
  /** Writes to the function's I/O BARs; dropped by default. */
  ioWrite?: (bar: number, offset: number, size: PioSize, value: number) => void;
}

/**
 * A type 0 configuration space: read-only identity, a command register with the usual
 * writable bits, write-one-to-clear status bits, BARs that answer the sizing protocol (write
 * all ones, read back the size mask), a writable interrupt line, and INTx# driven by
 * {@link setIntx} and gated by the command register's interrupt disable bit.
 */
export class PciConfigSpace implements PciFunction {
  /** Name for logs. */
  readonly name: string;
  #bytes: Uint8Array = new Uint8Array(PCI_CONFIG_SIZE);
  /** Per byte, the bits a configuration write may change. */
  readonly #writable = new Uint8Array(PCI_CONFIG_SIZE);
  readonly #bars: readonly (PciBar | undefined)[];
  readonly #options: PciFunctionOptions;
  #ioRanges: readonly PciIoRange[] = [];
  /** The level the function drives on INTx# before the command register's gate. */
  #intx = false;
  /** The level the routed line was last given. */
  #lineLevel = false;

  /** A function in its reset state. */
  constructor(name: string, id: PciIdentity, options: PciFunctionOptions = {}) {
    this.name = name;
    this.#bars = id.bars ?? [];
    this.#options = options;
    const mask = (at: number, value: number, count: number): void => {
      for (let i = 0; i < count; i++) this.#writable[at + i] = (value >>> (8 * i)) & 0xff;
    };
    this.#put(PCI_VENDOR_ID, id.vendorId | (id.deviceId << 16), 4);
    this.#put(PCI_COMMAND, id.command ?? 0, 2);
    this.#put(PCI_STATUS, id.status ?? 0, 2);
    this.#put(PCI_REVISION_ID, id.revision | (id.classCode << 8), 4);
    this.#put(PCI_HEADER_TYPE, id.headerType ?? 0, 1);
    const subsystem = (id.subsystemVendorId ?? 0) | ((id.subsystemId ?? 0) << 16);
    this.#put(PCI_SUBSYSTEM_VENDOR_ID, subsystem, 4);
    this.#put(PCI_INTERRUPT_PIN, id.interruptPin ?? 0, 1);
    mask(PCI_COMMAND, COMMAND_WRITABLE, 2);
    mask(PCI_INTERRUPT_LINE, 0xff, 1);
    // PCI 6.2.5: the BAR bits below the size are hardwired to zero, so writing all ones and
    // reading back yields the size; the low bits are the read-only type.
    this.#bars.forEach((bar, i) => {
      if (bar === undefined) return;
      const at = PCI_BAR0 + 4 * i;
      if (bar.kind === 'io') {
        this.#put(at, PCI_BAR_IO, 4);
        mask(at, ~(bar.size - 1) & ~3, 4);
        return;
      }
      const type =
        (bar.kind === 'memory64' ? PCI_BAR_MEM64 : 0) | (bar.prefetchable ? PCI_BAR_PREFETCH : 0);
      this.#put(at, type, 4);
      mask(at, ~(Math.min(bar.size, 2 ** 32) - 1) & ~0xf, 4);
      if (bar.kind === 'memory64')
        mask(at + 4, bar.size > 2 ** 32 ? ~(bar.size / 2 ** 32 - 1) : ~0, 4);
    });
    if (id.deviceSpecificWritable) this.#writable.fill(0xff, 0x40);
    this.#decode();
  }

  /** The BARs as declared, from BAR 0 up. */
  get bars(): readonly (PciBar | undefined)[] {
    return this.#bars;
  }

  /** The dword at `offset & 0xfc`. */
  configRead(offset: number): number {
    const at = offset & 0xfc;
    const b = this.#bytes;
    return (
      ((b[at] ?? 0) |
        ((b[at + 1] ?? 0) << 8) |
        ((b[at + 2] ?? 0) << 16) |
        ((b[at + 3] ?? 0) << 24)) >>>
      0
    );
  }

  /** Writes the bytes of `value` selected by `byteMask` into the dword at `offset & 0xfc`. */
  configWrite(offset: number, value: number, byteMask: number): void {
    const at = offset & 0xfc;
    for (let i = 0; i < 4; i++) {
      if (!(byteMask & (1 << i))) continue;
      const v = (value >>> (8 * i)) & 0xff;
      const old = this.#bytes[at + i] ?? 0;
      const w = this.#writable[at + i] ?? 0;
      let next = (old & ~w) | (v & w);
      const rw1c =
        at + i === PCI_STATUS
          ? STATUS_WRITE_CLEAR & 0xff
          : at + i === PCI_STATUS + 1
            ? STATUS_WRITE_CLEAR >> 8
            : 0;
      next &= ~(v & rw1c);
      this.#bytes[at + i] = next;
    }
    if (at === PCI_COMMAND || (at >= PCI_BAR0 && at < PCI_BAR0 + 4 * PCI_BAR_COUNT)) {
      this.#decode();
      this.#driveLine();
    }
  }

  /** BAR `index`'s address (I/O or memory, without the type bits), or undefined. */
  barAddress(index: number): number | undefined {
    const bar = this.#bars[index];
    if (bar === undefined) return undefined;
    const lo = this.configRead(PCI_BAR0 + 4 * index);
    if (bar.kind === 'io') return (lo & ~3) >>> 0;
    const base = (lo & ~0xf) >>> 0;
    return bar.kind === 'memory64'
      ? base + this.configRead(PCI_BAR0 + 4 * index + 4) * 2 ** 32
      : base;
  }

  /**
   * Programs BAR `index` with `address`, as firmware does before the OS runs.
   * @throws RangeError when there is no such BAR or `address` is not aligned to its size
   */
  setBarAddress(index: number, address: number): void {
    const bar = this.#bars[index];
    if (bar === undefined || !Number.isSafeInteger(address) || address % bar.size !== 0) {
      throw new RangeError(`${this.name}: cannot put BAR ${index} at 0x${address.toString(16)}`);
    }
    const at = PCI_BAR0 + 4 * index;
    const type = (this.#bytes[at] ?? 0) & (bar.kind === 'io' ? 3 : 0xf);
    this.#put(at, (address % 2 ** 32) | type, 4);
    if (bar.kind === 'memory64') this.#put(at + 4, Math.floor(address / 2 ** 32), 4);
    this.#decode();
  }

  /** Sets the interrupt line register, as firmware does after routing INTx#. */
  setInterruptLine(line: number): void {
    this.#put(PCI_INTERRUPT_LINE, line & 0xff, 1);
  }

  /** Sets command register bits, as firmware does to enable decoding. */
  enable(commandBits: number): void {
    const command = (this.configRead(PCI_COMMAND) & 0xffff) | (commandBits & COMMAND_WRITABLE);
    this.#put(PCI_COMMAND, command, 2);
    this.#decode();
    this.#driveLine();
  }

  /** The I/O BARs decoded now. */
  ioRanges(): readonly PciIoRange[] {
    return this.#ioRanges;
  }

  /** Forwards a read of I/O BAR `bar` to the function's handler. */
  ioRead(bar: number, offset: number, size: PioSize): number {
    const read = this.#options.ioRead;
    if (read !== undefined) return read(bar, offset, size);
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  /** Forwards a write to I/O BAR `bar` to the function's handler. */
  ioWrite(bar: number, offset: number, size: PioSize, value: number): void {
    this.#options.ioWrite?.(bar, offset, size, value);
  }

  /**
   * Sets the level the function drives on INTx#. The status register's interrupt bit shows it;
   * the routed line follows it unless the command register's interrupt disable bit is set
   * (PCI 2.3: 6.2.2, 6.2.3).
   */
  setIntx(asserted: boolean): void {
    this.#intx = asserted;
    const status = (this.configRead(PCI_COMMAND) >>> 16) & ~PCI_STATUS_INTERRUPT;
    this.#put(PCI_STATUS, asserted ? status | PCI_STATUS_INTERRUPT : status, 2);
    this.#driveLine();
  }

  /** The whole configuration space. */
  saveState(): DeviceState {
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      name: this.name,
      config: this.#bytes.slice(),
    };
  }

  /**
   * Restores {@link saveState}'s record; the identity bytes must match this function's. The
   * INTx# level is the owner's to restore with {@link setIntx}.
   * @throws Error when the record is of another device, version or function, or malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const config = bytesField(STATE_DEVICE, state, 'config', PCI_CONFIG_SIZE);
    for (let i = 0; i < 4; i++) {
      if (config[i] !== this.#bytes[i]) {
        throw new Error(`${this.name}: cannot load the configuration space of another function`);
      }
    }
    this.#bytes = config;
    this.#intx = ((this.configRead(PCI_COMMAND) >>> 16) & PCI_STATUS_INTERRUPT) !== 0;
    this.#lineLevel = this.#intx && !(this.configRead(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    this.#decode();
  }

  #put(at: number, value: number, count: number): void {
    for (let i = 0; i < count; i++) this.#bytes[at + i] = (value >>> (8 * i)) & 0xff;
  }

  // PCI 6.2.2: with the command register's I/O space bit clear the function ignores I/O
  // cycles; an address above 0xffff cannot be reached by x86 port I/O.
  #decode(): void {
    const ranges: PciIoRange[] = [];
    if (this.configRead(PCI_COMMAND) & PCI_COMMAND_IO) {
      this.#bars.forEach((bar, index) => {
        if (bar?.kind !== 'io') return;
        const base = this.barAddress(index) ?? 0;
        if (base !== 0 && base + bar.size <= 0x10000)
          ranges.push({ bar: index, base, size: bar.size });
      });
    }
    this.#ioRanges = ranges;
  }

  #driveLine(): void {
    const level = this.#intx && !(this.configRead(PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    if (level === this.#lineLevel) return;
    this.#lineLevel = level;
    const irq = this.#options.irq;
    if (irq === undefined) return;
    if (level) irq.raise();
    else irq.lower();
  }
}
