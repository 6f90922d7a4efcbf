/**
 * The legacy virtio PCI transport (virtio 1.x §4.1.4.8, "Legacy Interfaces: A Note on PCI
 * Device Layout"; the virtio 0.9.5 interface vmd's older devices and Linux's virtio_pci_legacy
 * driver speak): one I/O BAR holding the register file below, INTx on the PCI interrupt pin,
 * queues in the legacy split-ring layout at a page frame number.
 *
 * | BAR 0 offset | register                                    |
 * | ------------ | ------------------------------------------- |
 * | 0            | device features, bits 0-31 (read only)      |
 * | 4            | driver features, bits 0-31                  |
 * | 8            | queue address: page frame number (× 4096)   |
 * | 12           | queue size (16 bits, read only)             |
 * | 14           | queue select (16 bits)                      |
 * | 16           | queue notify (16 bits)                      |
 * | 18           | device status (8 bits); writing 0 resets    |
 * | 19           | ISR status (8 bits), cleared by reading     |
 * | 20           | device-specific configuration               |
 *
 * The driver is not trusted: a queue address outside RAM, a malformed chain or an available
 * index too far ahead puts the device in its error state — DEVICE_NEEDS_RESET in the status,
 * a configuration-change interrupt, no more processing until the driver resets it — logged
 * once, never an exception into the vCPU's loop.
 */

import { log } from '../../common/log.js';
import type { GuestMemory } from '../../engine/memory.js';
import type { PioSize } from '../../engine/types.js';
import { PCI_INTERRUPT_PIN_INTA, PciConfigSpace } from '../pci_config.js';
import {
  arrayField,
  boolField,
  checkStateHeader,
  intField,
  intValue,
  recordField,
} from '../state.js';
import type { DeviceState, IrqLine, Snapshotable } from '../types.js';
import {
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_PCI_ABI_VERSION,
  VIRTIO_PCI_CONFIG,
  VIRTIO_PCI_GUEST_FEATURES,
  VIRTIO_PCI_HOST_FEATURES,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_ISR_CONFIG,
  VIRTIO_PCI_ISR_QUEUE,
  VIRTIO_PCI_QUEUE_ADDR_SHIFT,
  VIRTIO_PCI_QUEUE_NOTIFY,
  VIRTIO_PCI_QUEUE_NUM,
  VIRTIO_PCI_QUEUE_PFN,
  VIRTIO_PCI_QUEUE_SEL,
  VIRTIO_PCI_STATUS,
  VIRTIO_PCI_SUBSYSTEM_VENDOR_ID,
  VIRTIO_PCI_VENDOR_ID,
  VIRTIO_TRANSITIONAL_DEVICE_ID,
  VIRTIO_RING_F_INDIRECT_DESC,
} from './constants.js';
import type { VirtioDevice, VirtioLink } from './device.js';
import { SplitVirtqueue } from './virtqueue.js';
import type { DescriptorChain } from './virtqueue.js';

/** Size of the legacy register BAR: PCI's largest I/O BAR, room for any device's config. */
export const VIRTIO_LEGACY_BAR_SIZE = 0x100;

const STATE_DEVICE = 'virtio-pci-legacy';
const STATE_VERSION = 1;

/** How a legacy virtio PCI function is built. */
export interface VirtioPciLegacyOptions {
  /** The device behind the transport. */
  device: VirtioDevice;
  /** Guest RAM, where the queues live. */
  memory: GuestMemory;
  /** The interrupt controller input INTA# is routed to (level triggered). */
  irq: IrqLine;
  /** That input's number, for the Interrupt Line register firmware would have written. */
  interruptLine: number;
}

/** A virtio device presented as a legacy (0.9.5) virtio PCI function. */
export class VirtioPciLegacy implements Snapshotable {
  /** Name for logs: the device's. */
  readonly name: string;
  /** The function's configuration space, to attach to the PCI host. */
  readonly pci: PciConfigSpace;
  readonly #device: VirtioDevice;
  readonly #memory: GuestMemory;
  readonly #queues: SplitVirtqueue[];
  readonly #inFlight: Set<DescriptorChain>[];
  readonly #draining: boolean[];
  #driverFeatures = 0;
  #queueSelect = 0;
  #status = 0;
  #isr = 0;
  #broken = false;
  #warned = false;

  /** @throws RangeError for a device type without a transitional PCI device ID */
  constructor(options: VirtioPciLegacyOptions) {
    const device = options.device;
    const deviceId = VIRTIO_TRANSITIONAL_DEVICE_ID[device.deviceType];
    if (deviceId === undefined) {
      throw new RangeError(`${device.name}: no legacy PCI ID for virtio type ${device.deviceType}`);
    }
    this.name = device.name;
    this.#device = device;
    this.#memory = options.memory;
    this.#queues = device.queueSizes.map((n) => new SplitVirtqueue(options.memory, n));
    this.#inFlight = this.#queues.map(() => new Set());
    this.#draining = this.#queues.map(() => false);
    // virtio 1.x §4.1.2: vendor 0x1af4, a transitional device ID, revision 0 for legacy
    // drivers, the device type as subsystem ID.
    this.pci = new PciConfigSpace(
      device.name,
      {
        vendorId: VIRTIO_PCI_VENDOR_ID,
        deviceId,
        revision: VIRTIO_PCI_ABI_VERSION,
        classCode: device.pciClass,
        subsystemVendorId: VIRTIO_PCI_SUBSYSTEM_VENDOR_ID,
        subsystemId: device.deviceType,
        interruptPin: PCI_INTERRUPT_PIN_INTA,
        bars: [{ kind: 'io', size: VIRTIO_LEGACY_BAR_SIZE }],
      },
      {
        irq: options.irq,
        ioRead: (bar, offset, size) => (bar === 0 ? this.#read(offset, size) : allOnes(size)),
        ioWrite: (bar, offset, size, value) => {
          if (bar === 0) this.#write(offset, size, value);
        },
      },
    );
    this.pci.setInterruptLine(options.interruptLine);
    device.attach(this.#link());
  }

  /** The device status register (with DEVICE_NEEDS_RESET once the device failed). */
  get status(): number {
    return this.#status;
  }

  /** True while the device is in its error state, until the driver resets it. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Register reads: bytes of the register file, then of the device's configuration. */
  #read(offset: number, size: PioSize): number {
    const bytes = new Uint8Array(size);
    const header = this.#header();
    const config = offset + size > VIRTIO_PCI_CONFIG ? this.#device.readConfig() : undefined;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      bytes[i] =
        at < VIRTIO_PCI_CONFIG ? (header[at] ?? 0xff) : (config?.[at - VIRTIO_PCI_CONFIG] ?? 0xff);
    }
    // virtio 1.x §4.1.4.5: reading the ISR returns it and clears it, which deasserts INTx.
    if (offset <= VIRTIO_PCI_ISR && offset + size > VIRTIO_PCI_ISR) {
      this.#isr = 0;
      this.pci.setIntx(false);
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = value * 256 + (bytes[i] ?? 0);
    return value;
  }

  #header(): Uint8Array {
    const header = new Uint8Array(VIRTIO_PCI_CONFIG);
    const view = new DataView(header.buffer);
    const queue = this.#queues[this.#queueSelect];
    const desc = queue?.rings?.desc ?? 0;
    view.setUint32(
      VIRTIO_PCI_HOST_FEATURES,
      Number(this.#device.deviceFeatures & 0xffffffffn),
      true,
    );
    view.setUint32(VIRTIO_PCI_GUEST_FEATURES, this.#driverFeatures, true);
    view.setUint32(VIRTIO_PCI_QUEUE_PFN, desc / 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT, true);
    view.setUint16(VIRTIO_PCI_QUEUE_NUM, queue?.size ?? 0, true);
    view.setUint16(VIRTIO_PCI_QUEUE_SEL, this.#queueSelect, true);
    view.setUint8(VIRTIO_PCI_STATUS, this.#status);
    view.setUint8(VIRTIO_PCI_ISR, this.#isr);
    return header;
  }

  /** Register writes, at the registers' natural widths (others are ignored). */
  #write(offset: number, size: PioSize, value: number): void {
    if (offset >= VIRTIO_PCI_CONFIG) {
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = (value >>> (8 * i)) & 0xff;
      this.#device.writeConfig(offset - VIRTIO_PCI_CONFIG, data);
      return;
    }
    const natural = (want: PioSize): boolean => size === want;
    if (offset === VIRTIO_PCI_GUEST_FEATURES && natural(4)) {
      // The driver may accept only what the device offered.
      this.#driverFeatures = (value & Number(this.#device.deviceFeatures & 0xffffffffn)) >>> 0;
    } else if (offset === VIRTIO_PCI_QUEUE_PFN && natural(4)) {
      this.#setQueuePfn(value >>> 0);
    } else if (offset === VIRTIO_PCI_QUEUE_SEL && natural(2)) {
      this.#queueSelect = value & 0xffff;
    } else if (offset === VIRTIO_PCI_QUEUE_NOTIFY && natural(2)) {
      this.#drain(value & 0xffff);
    } else if (offset === VIRTIO_PCI_STATUS && natural(1)) {
      this.#setStatus(value & 0xff);
    } else if (log.debugEnabled()) {
      log.debug('%s: ignored write of %d bytes at register %d', this.name, size, offset);
    }
  }

  #setQueuePfn(pfn: number): void {
    const queue = this.#queues[this.#queueSelect];
    if (queue === undefined || this.#broken) return;
    if (pfn === 0) {
      this.#cancel(this.#queueSelect);
      queue.reset();
      return;
    }
    try {
      queue.setLegacyBase(pfn * 2 ** VIRTIO_PCI_QUEUE_ADDR_SHIFT);
    } catch (error) {
      this.#fail(`queue ${this.#queueSelect}: ${messageOf(error)}`);
    }
  }

  // virtio 1.x §4.1.4.8 (legacy): writing 0 to the status resets the device.
  #setStatus(value: number): void {
    if (value !== 0) {
      this.#status = value | (this.#broken ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
      return;
    }
    this.#queues.forEach((queue, index) => {
      this.#cancel(index);
      queue.reset();
    });
    this.#driverFeatures = 0;
    this.#queueSelect = 0;
    this.#status = 0;
    this.#isr = 0;
    this.#broken = false;
    this.pci.setIntx(false);
    this.#device.reset();
  }

  #cancel(index: number): void {
    const inFlight = this.#inFlight[index];
    if (inFlight === undefined) return;
    for (const chain of inFlight) chain.cancel();
    inFlight.clear();
  }

  /** Takes available chains of queue `index` while fewer than its size are in flight. */
  #drain(index: number): void {
    const queue = this.#queues[index];
    const inFlight = this.#inFlight[index];
    if (queue === undefined || inFlight === undefined || !queue.enabled || this.#broken) return;
    if (this.#draining[index]) return; // a completion inside handle(): the loop below goes on
    this.#draining[index] = true;
    try {
      // A driver never has more than the queue size outstanding; holding the rest back bounds
      // the host's work however often a hostile driver notifies.
      while (!this.broken && inFlight.size < queue.size) {
        const chain = queue.pop(this.#indirect());
        if (chain === undefined) break;
        inFlight.add(chain);
        this.#device.handle(index, chain);
      }
    } catch (error) {
      this.#fail(`queue ${index}: ${messageOf(error)}`);
    } finally {
      this.#draining[index] = false;
    }
  }

  #complete(index: number, chain: DescriptorChain, written: number): void {
    const queue = this.#queues[index];
    if (queue === undefined || !this.#inFlight[index]?.delete(chain)) return;
    if (chain.cancelled || this.#broken) return;
    try {
      queue.pushUsed(chain.head, Math.min(written, chain.writableLength) >>> 0);
      if (queue.interruptWanted()) this.#interrupt(VIRTIO_PCI_ISR_QUEUE);
    } catch (error) {
      this.#fail(`queue ${index}: ${messageOf(error)}`);
      return;
    }
    this.#drain(index);
  }

  /** Whether the driver took indirect descriptor tables (offered by the device, if at all). */
  #indirect(): boolean {
    return (this.#driverFeatures & (1 << VIRTIO_RING_F_INDIRECT_DESC)) !== 0;
  }

  #interrupt(bits: number): void {
    this.#isr |= bits;
    this.pci.setIntx(true);
  }

  #fail(reason: string): void {
    if (this.#broken) return;
    this.#broken = true;
    this.#status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    if (this.#warned) {
      log.debug('%s: %s; the device needs a reset', this.name, reason);
    } else {
      this.#warned = true;
      log.warn(
        '%s: %s; the device needs a reset (further errors are logged at debug level)',
        this.name,
        reason,
      );
    }
    this.#interrupt(VIRTIO_PCI_ISR_CONFIG);
  }

  #link(): VirtioLink {
    return {
      memory: this.#memory,
      driverFeatures: () => BigInt(this.#driverFeatures),
      complete: (queue, chain, written) => {
        this.#complete(queue, chain, written);
      },
      fail: (reason) => {
        this.#fail(reason);
      },
    };
  }

  /**
   * Registers, queues, the heads of chains in flight, the configuration space and the
   * device's own state.
   */
  saveState(): DeviceState {
    return {
      device: STATE_DEVICE,
      version: STATE_VERSION,
      config: this.pci.saveState(),
      driverFeatures: this.#driverFeatures,
      queueSelect: this.#queueSelect,
      status: this.#status,
      isr: this.#isr,
      broken: this.#broken,
      queues: this.#queues.map((q) => q.saveState()),
      inFlight: this.#inFlight.map((set) => [...set].map((chain) => chain.head)),
      backend: this.#device.saveState(),
    };
  }

  /**
   * Restores {@link saveState}'s record, guest memory first: chains that were in flight are
   * read again from their descriptors and handed to the device anew.
   * @throws Error when the record is of another device or version or is malformed
   */
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
    const count = this.#queues.length;
    const queues = arrayField(STATE_DEVICE, state, 'queues', count, count);
    const heads = arrayField(STATE_DEVICE, state, 'inFlight', count, count).map((list, index) =>
      inFlightHeads(list, this.#queues[index]?.size ?? 0),
    );
    const driverFeatures = intField(STATE_DEVICE, state, 'driverFeatures', 0, 0xffffffff);
    const queueSelect = intField(STATE_DEVICE, state, 'queueSelect', 0, 0xffff);
    const status = intField(STATE_DEVICE, state, 'status', 0, 0xff);
    const isr = intField(STATE_DEVICE, state, 'isr', 0, 3);
    const broken = boolField(STATE_DEVICE, state, 'broken');
    const config = recordField(STATE_DEVICE, state, 'config') as DeviceState;
    const backend = recordField(STATE_DEVICE, state, 'backend') as DeviceState;
    this.#queues.forEach((_queue, index) => {
      this.#cancel(index);
    });
    this.pci.loadState(config);
    this.#device.loadState(backend);
    this.#queues.forEach((queue, index) => {
      queue.loadState(STATE_DEVICE, queues[index]);
    });
    this.#driverFeatures = driverFeatures;
    this.#queueSelect = queueSelect;
    this.#status = status;
    this.#isr = isr;
    this.#broken = broken;
    this.pci.setIntx(isr !== 0);
    if (broken) return;
    this.#queues.forEach((queue, index) => {
      try {
        for (const head of heads[index] ?? []) {
          const chain = queue.chainAt(head, this.#indirect());
          this.#inFlight[index]?.add(chain);
          this.#device.handle(index, chain);
        }
      } catch (error) {
        this.#fail(`queue ${index}: ${messageOf(error)}`);
      }
    });
  }
}

/** A saved list of in-flight chain heads, each checked to be below the queue size. */
function inFlightHeads(list: unknown, size: number): number[] {
  if (!Array.isArray(list)) throw new Error(`${STATE_DEVICE} state: "inFlight" is malformed`);
  return (list as unknown[]).map((head, i) =>
    intValue(STATE_DEVICE, head, `"inFlight[${i}]"`, 0, size - 1),
  );
}

function allOnes(size: PioSize): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
