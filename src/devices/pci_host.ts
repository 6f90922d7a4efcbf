/**
 * The PCI host bridge and configuration mechanism #1: CONFIG_ADDRESS at 0xcf8 (dword accesses
 * only) selects bus, device, function and register; CONFIG_DATA at 0xcfc-0xcff reads and writes
 * that register in bytes, words or a dword. References are to the PCI Local Bus Specification
 * 2.1 ("PCI: 3.7.4.1 Configuration Mechanism #1", "PCI: 6.2.5 Base Addresses").
 *
 * Only bus 0 exists. Device 00:00.0 is the host bridge, with vmd's identity (OpenBSD's vendor
 * ID, "VMM Host"); further functions implement {@link PciFunction} (usually through a
 * {@link PciConfigSpace}) and are attached by slot. Reads of absent functions return all
 * ones, which is how software sees an empty slot.
 *
 * The host also forwards I/O cycles to the function whose I/O BAR decodes them: once
 * connected to the bus ({@link PciHost.connectIo}) it claims exactly the ports of the I/O BARs
 * decoded now, and follows the guest as it moves BARs or switches I/O decoding off and on;
 * other ports stay unclaimed. With no BIOS, {@link PciHost.assignIoBars}
 * plays firmware and places BARs upward from the window's base, as vmd does.
 */

import { log } from '../common/log.js';
import type { PioSize } from '../engine/types.js';
import type { IoBus } from './bus.js';
import { checkStateHeader, intField, recordField } from './state.js';
import type { StateRecord } from './state.js';
import type { DeviceState, PioDevice } from './types.js';
import {
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PciConfigSpace,
  type PciFunction,
} from './pci_config.js';

export * from './pci_config.js';

/** CONFIG_ADDRESS, dword accesses only. */ export const PCI_CONFIG_ADDRESS = 0xcf8;
/** CONFIG_DATA: four byte lanes, 0xcfc-0xcff. */ export const PCI_CONFIG_DATA = 0xcfc;
/** CONFIG_ADDRESS bit 31: enable configuration cycles. */ export const CONFIG_ENABLE = 0x80000000;
/** The bits of CONFIG_ADDRESS that hold data: enable, bus, device, function, register. */
export const CONFIG_ADDRESS_MASK = 0x80fffffc;

/** OpenBSD's PCI vendor ID, which vmd's devices carry. */ export const PCI_VENDOR_OPENBSD = 0x0b5d;
/** vmd's host bridge, "VMM Host". */ export const PCI_PRODUCT_OPENBSD_PCHB = 0x0666;
/** Class code of a host bridge: bridge device (06), host bridge (00), interface 00. */
export const PCI_CLASS_HOST_BRIDGE = 0x060000;
/**
 * The first port of the PCI I/O window (vmd's VM_PCI_IO_BAR_BASE): the ISA range below stays
 * with the legacy chips, and Linux accepts BARs placed here by firmware.
 */
export const PCI_IO_WINDOW_BASE = 0x1000;
/** Ports in the PCI I/O window: up to the top of the 64 KiB port space. */
export const PCI_IO_WINDOW_SIZE = 0x10000 - PCI_IO_WINDOW_BASE;

const STATE_DEVICE = 'pci-host';
const STATE_VERSION = 1;

/** Options of {@link PciHost}. */
export interface PciHostOptions {
  /** Name for logs and the bus map; `pci` by default. */
  name?: string;
}

/**
 * Configuration mechanism #1 with vmd's host bridge at 00:00.0. Register it on the bus at
 * {@link PCI_CONFIG_ADDRESS}, 8 ports, and call {@link PciHost.connectIo} for the BARs.
 */
export class PciHost implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  /** The host bridge, function 00:00.0. */
  readonly bridge: PciConfigSpace;
  /** I/O cycles in the PCI window, forwarded to the function whose I/O BAR decodes them. */
  readonly ioSpace: PioDevice;
  readonly #functions = new Map<number, PciFunction>();
  /** The attached functions, in attach order, for I/O decoding. */
  readonly #decoders: PciFunction[] = [];
  #address = 0;
  /** The next free port for {@link assignIoBars}. */
  #nextIo = PCI_IO_WINDOW_BASE;
  /** The bus the decoded I/O BARs are claimed on, once connected. */
  #bus: IoBus | undefined;
  /** The port ranges claimed on it now, as `base:size` keys. */
  #claimed: string[] = [];
  #conflictLogged = false;

  /** A host with only the bridge present and CONFIG_ADDRESS zero. */
  constructor(options: PciHostOptions = {}) {
    this.name = options.name ?? 'pci';
    // vmd's pci_init: OpenBSD's vendor ID on both the device and the subsystem, class bridge /
    // host bridge, revision 0. Linux's pci_sanity_check accepts a bus holding a host bridge.
    this.bridge = new PciConfigSpace('host-bridge', {
      vendorId: PCI_VENDOR_OPENBSD,
      deviceId: PCI_PRODUCT_OPENBSD_PCHB,
      revision: 0,
      classCode: PCI_CLASS_HOST_BRIDGE,
      subsystemVendorId: PCI_VENDOR_OPENBSD,
      command: PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
    });
    this.attach(0, 0, this.bridge);
    this.ioSpace = new PciIoSpace(`${this.name}-io`, this.#decoders);
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
    this.#decoders.push(fn);
  }

  /**
   * Firmware's part: places each I/O BAR of `fn` in the I/O window, upward from the last one
   * placed and aligned to its size, and enables I/O decoding. Returns the BARs' ports.
   * @throws RangeError when the window is full
   */
  assignIoBars(fn: PciConfigSpace): number[] {
    const placed: number[] = [];
    fn.bars.forEach((bar, index) => {
      if (bar?.kind !== 'io') return;
      const base = Math.ceil(this.#nextIo / bar.size) * bar.size;
      if (base + bar.size > PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE) {
        throw new RangeError(`${this.name}: no room for ${fn.name}'s BAR ${index} in I/O space`);
      }
      fn.setBarAddress(index, base);
      this.#nextIo = base + bar.size;
      placed.push(base);
    });
    fn.enable(PCI_COMMAND_IO);
    this.refreshDecode();
    return placed;
  }

  /** Claims the decoded I/O BARs' ports on `bus`, from now on as they change. */
  connectIo(bus: IoBus): void {
    this.#bus = bus;
    this.refreshDecode();
  }

  /**
   * Makes the bus claims match the functions' decoded I/O BARs. Configuration writes through
   * the host call it; call it after restoring functions' saved states. A BAR the guest placed
   * over another device's ports is not claimed (logged once).
   */
  refreshDecode(): void {
    const bus = this.#bus;
    if (bus === undefined) return;
    const wanted = this.#decoders.flatMap((fn) => fn.ioRanges().map((r) => `${r.base}:${r.size}`));
    if (wanted.length === this.#claimed.length && wanted.every((k, i) => k === this.#claimed[i])) {
      return;
    }
    for (const key of this.#claimed) {
      const [base = 0, size = 0] = key.split(':').map(Number);
      bus.removePio(base, size, this.ioSpace);
    }
    this.#claimed = [];
    for (const key of wanted) {
      const [base = 0, size = 0] = key.split(':').map(Number);
      try {
        bus.addPio(base, size, this.ioSpace);
        this.#claimed.push(key);
      } catch (error) {
        if (!this.#conflictLogged) log.warn('%s: I/O BAR not decoded: %s', this.name, error);
        this.#conflictLogged = true;
      }
    }
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
    this.refreshDecode();
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

/** The PCI I/O window: each access goes to the function decoding its first port. */
class PciIoSpace implements PioDevice {
  readonly name: string;
  readonly #functions: readonly PciFunction[];

  constructor(name: string, functions: readonly PciFunction[]) {
    this.name = name;
    this.#functions = functions;
  }

  pioRead(port: number, size: PioSize): number {
    for (const fn of this.#functions) {
      for (const r of fn.ioRanges()) {
        if (port >= r.base && port < r.base + r.size) return fn.ioRead(r.bar, port - r.base, size);
      }
    }
    // PCI: a cycle no function claims ends in a master abort, which reads all ones.
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  pioWrite(port: number, size: PioSize, value: number): void {
    for (const fn of this.#functions) {
      for (const r of fn.ioRanges()) {
        if (port >= r.base && port < r.base + r.size) {
          fn.ioWrite(r.bar, port - r.base, size, value);
          return;
        }
      }
    }
  }

  // The decode follows the functions' configuration spaces, which save themselves.
  saveState(): DeviceState {
    return { device: 'pci-io', version: 1 };
  }

  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, 'pci-io', 1);
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
