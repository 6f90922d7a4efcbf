/**
 * The PCI host bridge and configuration mechanism #1: CONFIG_ADDRESS at 0xcf8 (dword accesses
 * only) selects bus, device, function and register; CONFIG_DATA at 0xcfc-0xcff reads and writes
 * that register in bytes, words or a dword. References are to the PCI Local Bus Specification
 * 2.1 ("PCI: 3.7.4.1 Configuration Mechanism #1", "PCI: 6.2.5 Base Addresses") and to the
 * Intel 82441FX (440FX PMC) datasheet for the bridge's identity.
 *
 * Only bus 0 exists. Device 00:00.0 is the host bridge; further functions implement
 * {@link PciFunction} (usually over a {@link PciConfigSpace}) and are attached by slot. Reads
 * of absent functions return all ones, which is how software sees an empty slot.
 */

import type { PioSize } from '../engine/types.js';
import { bytesField, checkStateHeader, intField, recordField } from './state.js';
import type { StateRecord } from './state.js';
import type { DeviceState, PioDevice, Snapshotable } from './types.js';

/** CONFIG_ADDRESS, dword accesses only. */ export const PCI_CONFIG_ADDRESS = 0xcf8;
/** CONFIG_DATA: four byte lanes, 0xcfc-0xcff. */ export const PCI_CONFIG_DATA = 0xcfc;
/** CONFIG_ADDRESS bit 31: enable configuration cycles. */ export const CONFIG_ENABLE = 0x80000000;
/** The bits of CONFIG_ADDRESS that hold data: enable, bus, device, function, register. */
export const CONFIG_ADDRESS_MASK = 0x80fffffc;
/** Bytes of a function's configuration space through mechanism #1. */
export const PCI_CONFIG_SIZE = 256;

/** Header offset of the vendor ID (16 bits), then the device ID (16 bits). */
export const PCI_VENDOR_ID = 0x00;
/** Command (16 bits) and status (16 bits). */ export const PCI_COMMAND = 0x04;
/** Status register. */ export const PCI_STATUS = 0x06;
/** Revision ID, then the class code (3 bytes). */ export const PCI_REVISION_ID = 0x08;
/** Header type; bit 7 marks a multi-function device. */ export const PCI_HEADER_TYPE = 0x0e;
/** BAR 0; BARs 1-5 follow. */ export const PCI_BAR0 = 0x10;
/** Subsystem vendor ID, then subsystem ID. */ export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
/** Interrupt line (written by software), then interrupt pin. */
export const PCI_INTERRUPT_LINE = 0x3c;

/** Command bit 0: respond to I/O space. */ export const PCI_COMMAND_IO = 0x0001;
/** Command bit 1: respond to memory space. */ export const PCI_COMMAND_MEMORY = 0x0002;
/** Command bit 2: bus master. */ export const PCI_COMMAND_MASTER = 0x0004;
/** Command bit 10: interrupt disable. */ export const PCI_COMMAND_INTX_DISABLE = 0x0400;
/** BAR bit 0: an I/O space BAR. */ export const PCI_BAR_IO = 0x01;
/** BAR bits 1-2 = 10: a 64-bit memory BAR. */ export const PCI_BAR_MEM64 = 0x04;
/** BAR bit 3: prefetchable memory. */ export const PCI_BAR_PREFETCH = 0x08;

/** Intel's PCI vendor ID. */ export const PCI_VENDOR_INTEL = 0x8086;
/** 82441FX PMC (440FX host bridge) device ID. */ export const PCI_DEVICE_440FX = 0x1237;
/** Class code of a host bridge: bridge device (06), host bridge (00), interface 00. */
export const PCI_CLASS_HOST_BRIDGE = 0x060000;

// PCI: command bits software may set on a simple function: I/O, memory, bus master, parity
// error response, SERR# enable, interrupt disable.
const COMMAND_WRITABLE = 0x0547;
// PCI: status bits that are cleared by writing 1: master data parity error, signaled target
// abort, received target and master abort, signaled system error, detected parity error.
const STATUS_WRITE_CLEAR = 0xf900;
const STATE_DEVICE = 'pci-host';
const STATE_VERSION = 1;

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
  /** Vendor ID, e.g. {@link PCI_VENDOR_INTEL}. */
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

/**
 * A type 0 configuration space: read-only identity, a command register with the usual
 * writable bits, write-one-to-clear status bits, BARs that answer the sizing protocol (write
 * all ones, read back the size mask) and a writable interrupt line.
 */
export class PciConfigSpace implements PciFunction {
  /** Name for logs. */
  readonly name: string;
  #bytes: Uint8Array = new Uint8Array(PCI_CONFIG_SIZE);
  /** Per byte, the bits a configuration write may change. */
  readonly #writable = new Uint8Array(PCI_CONFIG_SIZE);
  readonly #bars: readonly (PciBar | undefined)[];

  /** A function in its reset state. */
  constructor(name: string, id: PciIdentity) {
    this.name = name;
    this.#bars = id.bars ?? [];
    const put = (at: number, value: number, count: number): void => {
      for (let i = 0; i < count; i++) this.#bytes[at + i] = (value >>> (8 * i)) & 0xff;
    };
    const mask = (at: number, value: number, count: number): void => {
      for (let i = 0; i < count; i++) this.#writable[at + i] = (value >>> (8 * i)) & 0xff;
    };
    put(PCI_VENDOR_ID, id.vendorId | (id.deviceId << 16), 4);
    put(PCI_COMMAND, id.command ?? 0, 2);
    put(PCI_STATUS, id.status ?? 0, 2);
    put(PCI_REVISION_ID, id.revision | (id.classCode << 8), 4);
    put(PCI_HEADER_TYPE, id.headerType ?? 0, 1);
    put(PCI_SUBSYSTEM_VENDOR_ID, (id.subsystemVendorId ?? 0) | ((id.subsystemId ?? 0) << 16), 4);
    put(PCI_INTERRUPT_LINE + 1, id.interruptPin ?? 0, 1);
    mask(PCI_COMMAND, COMMAND_WRITABLE, 2);
    mask(PCI_INTERRUPT_LINE, 0xff, 1);
    // PCI 6.2.5: the BAR bits below the size are hardwired to zero, so writing all ones and
    // reading back yields the size; the low bits are the read-only type.
    this.#bars.forEach((bar, i) => {
      if (bar === undefined) return;
      const at = PCI_BAR0 + 4 * i;
      if (bar.kind === 'io') {
        put(at, PCI_BAR_IO, 4);
        mask(at, ~(bar.size - 1) & ~3, 4);
        return;
      }
      put(
        at,
        (bar.kind === 'memory64' ? PCI_BAR_MEM64 : 0) | (bar.prefetchable ? PCI_BAR_PREFETCH : 0),
        4,
      );
      mask(at, ~(Math.min(bar.size, 2 ** 32) - 1) & ~0xf, 4);
      if (bar.kind === 'memory64')
        mask(at + 4, bar.size > 2 ** 32 ? ~(bar.size / 2 ** 32 - 1) : ~0, 4);
    });
    if (id.deviceSpecificWritable) this.#writable.fill(0xff, 0x40);
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

  /** The whole configuration space. */
  saveState(): DeviceState {
    return { device: 'pci-function', version: 1, name: this.name, config: this.#bytes.slice() };
  }

  /**
   * Restores {@link saveState}'s record; the identity bytes must match this function's.
   * @throws Error when the record is of another device, version or function, or malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, 'pci-function', 1);
    const config = bytesField('pci-function', state, 'config', PCI_CONFIG_SIZE);
    for (let i = 0; i < 4; i++) {
      if (config[i] !== this.#bytes[i]) {
        throw new Error(`${this.name}: cannot load the configuration space of another function`);
      }
    }
    this.#bytes = config;
  }
}

/** Options of {@link PciHost}. */
export interface PciHostOptions {
  /** Name for logs and the bus map; `pci` by default. */
  name?: string;
}

/**
 * Configuration mechanism #1 with an Intel 440FX host bridge at 00:00.0. Register it on the
 * bus at {@link PCI_CONFIG_ADDRESS}, 8 ports.
 */
export class PciHost implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  /** The host bridge, function 00:00.0. */
  readonly bridge: PciConfigSpace;
  readonly #functions = new Map<number, PciFunction>();
  #address = 0;

  /** A host with only the bridge present and CONFIG_ADDRESS zero. */
  constructor(options: PciHostOptions = {}) {
    this.name = options.name ?? 'pci';
    // 82441FX: PCICMD 0006h and PCISTS 0280h at reset (memory and bus master enabled, fast
    // back-to-back capable, medium DEVSEL timing), revision 02h.
    this.bridge = new PciConfigSpace('host-bridge', {
      vendorId: PCI_VENDOR_INTEL,
      deviceId: PCI_DEVICE_440FX,
      revision: 0x02,
      classCode: PCI_CLASS_HOST_BRIDGE,
      command: PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
      status: 0x0280,
      deviceSpecificWritable: true,
    });
    this.attach(0, 0, this.bridge);
  }

  /**
   * Puts `fn` at bus 0, device `device` (0-31), function `func` (0-7).
   * @throws RangeError for a slot out of range or already taken
   */
  attach(device: number, func: number, fn: PciFunction): void {
    const key = slotKey(device, func);
    if (key < 0 || this.#functions.has(key)) {
      throw new RangeError(`${this.name}: cannot attach ${fn.name} at 00:${device}.${func}`);
    }
    this.#functions.set(key, fn);
  }

  /** The function at bus 0, `device`, `func`, if any. */
  functionAt(device: number, func: number): PciFunction | undefined {
    return this.#functions.get(slotKey(device, func));
  }

  /** CONFIG_ADDRESS (a dword at 0xcf8) or bytes of the selected register (0xcfc-0xcff). */
  pioRead(port: number, size: PioSize): number {
    const ones = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    if (port < PCI_CONFIG_DATA)
      return port === PCI_CONFIG_ADDRESS && size === 4 ? this.#address : ones;
    const fn = this.#selected();
    if (fn === undefined) return ones;
    const lane = port - PCI_CONFIG_DATA;
    const dword = fn.configRead(this.#address & 0xfc);
    let value = 0;
    for (let i = 0; i < size; i++) {
      // Lanes past 0xcff belong to other ports and float.
      const byte = lane + i < 4 ? (dword >>> (8 * (lane + i))) & 0xff : 0xff;
      value += byte * 256 ** i;
    }
    return value;
  }

  /** Sets CONFIG_ADDRESS (dword writes at 0xcf8 only) or writes the selected register. */
  pioWrite(port: number, size: PioSize, value: number): void {
    if (port < PCI_CONFIG_DATA) {
      // PCI 3.7.4.1: only a dword access to 0xcf8 reaches CONFIG_ADDRESS; bits 0-1 and 24-30
      // are reserved and read as zero.
      if (port === PCI_CONFIG_ADDRESS && size === 4)
        this.#address = (value & CONFIG_ADDRESS_MASK) >>> 0;
      return;
    }
    const fn = this.#selected();
    if (fn === undefined) return;
    const lane = port - PCI_CONFIG_DATA;
    const mask = (((1 << size) - 1) << lane) & 0xf;
    fn.configWrite(this.#address & 0xfc, (value << (8 * lane)) >>> 0, mask);
  }

  /** CONFIG_ADDRESS and the bridge's configuration; attached functions save their own. */
  saveState(): DeviceState {
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      address: this.#address,
      bridge: this.bridge.saveState(),
    };
  }

  /**
   * Restores {@link saveState}'s record.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const address = intField(STATE_DEVICE, state, 'address', 0, 0xffffffff);
    if ((address & ~CONFIG_ADDRESS_MASK) !== 0) {
      throw new Error(`${STATE_DEVICE} state: "address" has reserved bits set`);
    }
    const bridge: StateRecord = recordField(STATE_DEVICE, state, 'bridge');
    this.bridge.loadState(bridge as DeviceState);
    this.#address = address;
  }

  // PCI 3.7.4.1: with the enable bit clear, or on another bus, no configuration cycle
  // reaches a function here.
  #selected(): PciFunction | undefined {
    const a = this.#address;
    if (!(a & CONFIG_ENABLE) || (a >> 16) & 0xff) return undefined;
    return this.#functions.get((a >> 8) & 0xff);
  }
}

function slotKey(device: number, func: number): number {
  const ok =
    Number.isInteger(device) &&
    Number.isInteger(func) &&
    device >= 0 &&
    device < 32 &&
    func >= 0 &&
    func < 8;
  return ok ? (device << 3) | func : -1;
}
