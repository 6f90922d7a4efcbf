/**
 * The virtio entropy device (virtio 1.x §5.4): one request queue whose device-writable buffers
 * the device fills with random bytes from the host's CSPRNG. vmd's viornd: a 64-entry queue,
 * at most 64 KiB per request, no configuration, no features.
 */

import { randomFillSync } from 'node:crypto';
import { checkStateHeader } from '../state.js';
import type { DeviceState } from '../types.js';
import { VIRTIO_ID_RNG } from './constants.js';
import type { VirtioDevice, VirtioLink } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/** Entries of the request queue (vmd: 64). */
export const VIORND_QUEUE_SIZE = 64;
/** The most random bytes given for one request (vmd: 64 KiB). */
export const VIORND_MAX_BYTES = 64 * 1024;
/** PCI class of vmd's virtio-rng: base system peripheral, other. */
export const PCI_CLASS_SYSTEM_OTHER = 0x088000;

const STATE_DEVICE = 'virtio-rng';
const STATE_VERSION = 1;

/** A virtio-rng device. */
export class VirtioRng implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_RNG;
  readonly pciClass = PCI_CLASS_SYSTEM_OTHER;
  readonly queueSizes = [VIORND_QUEUE_SIZE];
  readonly deviceFeatures = 0n;
  #link: VirtioLink | undefined;

  /** @param name name for logs, e.g. `viornd0` */
  constructor(name: string) {
    this.name = name;
  }

  attach(link: VirtioLink): void {
    this.#link = link;
  }

  /** No configuration (virtio 1.x §5.4.4). */
  readConfig(): Uint8Array {
    return new Uint8Array(0);
  }

  writeConfig(): void {
    /* no configuration */
  }

  /** virtio 1.x §5.4.6: fills the writable buffers (up to the cap) and returns them at once. */
  handle(queue: number, chain: DescriptorChain): void {
    const n = Math.min(chain.writableLength, VIORND_MAX_BYTES);
    chain.write(0, randomFillSync(new Uint8Array(n)));
    this.#link?.complete(queue, chain, n);
  }

  reset(): void {
    /* stateless */
  }

  saveState(): DeviceState {
    return { device: STATE_DEVICE, version: STATE_VERSION };
  }

  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
  }
}
