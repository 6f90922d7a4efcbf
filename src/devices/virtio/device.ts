/**
 * The seam between a virtio device (block, entropy, ...) and the transport that presents it to
 * the guest (legacy PCI today, modern PCI next). The transport owns registers, feature
 * negotiation, the queues and interrupts; it takes descriptor chains off the queues and hands
 * them to the device, which returns each one through its {@link VirtioLink}, at once or after
 * asynchronous work.
 */

import type { GuestMemory } from '../../engine/memory.js';
import type { Snapshotable } from '../types.js';
import type { DescriptorChain } from './virtqueue.js';

/** What a device may ask of the transport it is attached to. */
export interface VirtioLink {
  /** Guest RAM, for devices that address it beyond their chains. */
  readonly memory: GuestMemory;
  /** The features the driver accepted, as a 64-bit mask. */
  driverFeatures(): bigint;
  /**
   * Returns `chain`, taken from queue `queue`, to the driver with `written` bytes written to
   * its writable buffers, and interrupts the driver unless it asked not to be. A chain
   * cancelled by a reset is dropped.
   */
  complete(queue: number, chain: DescriptorChain, written: number): void;
  /**
   * Puts the device in its error state (DEVICE_NEEDS_RESET, no more processing until the
   * driver resets it) because the driver broke the protocol; `reason` is logged.
   */
  fail(reason: string): void;
}

/** A virtio device behind a transport. */
export interface VirtioDevice extends Snapshotable {
  /** Name for logs, e.g. `vioblk0`. */
  readonly name: string;
  /** The virtio device type (VIRTIO_ID_*). */
  readonly deviceType: number;
  /** The PCI class code a PCI transport presents (24 bits). */
  readonly pciClass: number;
  /** Each queue's size (a power of two), by queue index. */
  readonly queueSizes: readonly number[];
  /** The features the device offers, as a 64-bit mask. */
  readonly deviceFeatures: bigint;
  /** Called once by the transport before any chain arrives. */
  attach(link: VirtioLink): void;
  /** The device-specific configuration as the driver sees it now (little-endian fields). */
  readConfig(): Uint8Array;
  /** A driver write of `data` at `offset` of the device-specific configuration. */
  writeConfig(offset: number, data: Uint8Array): void;
  /**
   * Handles a chain the driver made available on queue `queue`; the device must eventually
   * pass it to {@link VirtioLink.complete} or {@link VirtioLink.fail}.
   */
  handle(queue: number, chain: DescriptorChain): void;
  /** The driver reset the device: chains in flight were cancelled; forget per-driver state. */
  reset(): void;
}
