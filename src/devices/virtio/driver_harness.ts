/**
 * For the virtio tests: a legacy virtio PCI driver played against the real transport through
 * a real I/O bus, PCI host and guest memory, as Linux's virtio_pci_legacy and virtio_ring do it
 * — and, for the hostile-driver tests, the raw ring writes a driver should never make.
 */

import { GuestMemory } from '../../engine/memory.js';
import type { PioSize } from '../../engine/types.js';
import { IoBus } from '../bus.js';
import { ELCR, I8259 } from '../i8259.js';
import { PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PciHost } from '../pci_host.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_PCI_GUEST_FEATURES,
  VIRTIO_PCI_HOST_FEATURES,
  VIRTIO_PCI_QUEUE_NOTIFY,
  VIRTIO_PCI_QUEUE_NUM,
  VIRTIO_PCI_QUEUE_PFN,
  VIRTIO_PCI_QUEUE_SEL,
  VIRTIO_PCI_STATUS,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from './constants.js';
import type { VirtioDevice } from './device.js';
import { VirtioPciLegacy } from './virtio_pci.js';
import { legacyRingBytes } from './virtqueue.js';

/** The IRQ the harness routes INTA# to (a PCI IRQ of vmd's list, on the slave 8259). */
export const HARNESS_IRQ = 10;
/** The PCI slot of the device under test. */
export const HARNESS_SLOT = 1;

/** A descriptor as a driver writes it. */
export interface RawDescriptor {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

/** One buffer of a request: bytes the device reads, or room for bytes it writes. */
export type RequestPart = { readonly out: Uint8Array } | { readonly in: number };

/** A request submitted by {@link LegacyDriver.submit}: its head and where each part lies. */
export interface Submitted {
  readonly head: number;
  readonly parts: readonly { gpa: number; length: number }[];
}

/** The machine around the device: RAM, the PIC pair with the IRQ level-triggered, PCI. */
export interface Harness {
  readonly memory: GuestMemory;
  readonly bus: IoBus;
  readonly pic: I8259;
  readonly host: PciHost;
  readonly transport: VirtioPciLegacy;
  readonly driver: LegacyDriver;
  /** The level of INTA# as the device drives it into the PIC. */
  readonly intx: () => boolean;
  /** Whether the slave 8259's request register holds the device's IRQ. */
  readonly irqRequested: () => boolean;
  /** How many VMM-side writes GuestMemory reported to the engine's invalidation hook. */
  readonly invalidations: () => number;
}

/** Builds the harness around `device` with `memorySize` bytes of RAM (1 MiB by default). */
export function makeHarness(device: VirtioDevice, memorySize = 1 << 20): Harness {
  let invalidations = 0;
  const memory = new GuestMemory(new SharedArrayBuffer(memorySize), {
    base: 0,
    size: memorySize,
    invalidate: () => {
      invalidations++;
    },
  });
  const bus = new IoBus();
  const pic = new I8259();
  const host = new PciHost();
  bus.addPio(0x20, 2, pic);
  bus.addPio(0xa0, 2, pic);
  bus.addPio(ELCR, 2, pic);
  bus.addPio(PCI_CONFIG_ADDRESS, 8, host);
  host.connectIo(bus);
  // Initialise the pair as Linux does (vectors 0x30/0x38, cascade on IR2, 8086 mode), all
  // inputs unmasked, and mark the PCI IRQ level-triggered in the ELCR as firmware would.
  for (const [port, value] of [
    [0x20, 0x11],
    [0x21, 0x30],
    [0x21, 0x04],
    [0x21, 0x01],
    [0xa0, 0x11],
    [0xa1, 0x38],
    [0xa1, 0x02],
    [0xa1, 0x01],
    [0x21, 0x00],
    [0xa1, 0x00],
    [ELCR + 1, 1 << (HARNESS_IRQ - 8)],
  ] as const) {
    bus.pioWrite(port, 1, value);
  }
  const line = pic.irq(HARNESS_IRQ);
  let level = false;
  const irq = {
    raise: (): void => {
      level = true;
      line.raise();
    },
    lower: (): void => {
      level = false;
      line.lower();
    },
    pulse: (): void => {
      line.pulse();
    },
  };
  const transport = new VirtioPciLegacy({
    device,
    memory,
    irq,
    interruptLine: HARNESS_IRQ,
  });
  host.attach(HARNESS_SLOT, 0, transport.pci);
  const [ioBase = 0] = host.assignIoBars(transport.pci);
  const driver = new LegacyDriver(bus, memory, ioBase);
  const irqRequested = (): boolean => {
    bus.pioWrite(0xa0, 1, 0x0a); // OCW3: read IRR
    return ((bus.pioRead(0xa0, 1) >> (HARNESS_IRQ - 8)) & 1) === 1;
  };
  return {
    memory,
    bus,
    pic,
    host,
    transport,
    driver,
    intx: () => level,
    irqRequested,
    invalidations: () => invalidations,
  };
}

/** Reads the dword at `reg` of the configuration space of 00:`slot`.0 through 0xcf8/0xcfc. */
export function configRead(bus: IoBus, slot: number, reg: number): number {
  bus.pioWrite(PCI_CONFIG_ADDRESS, 4, (0x80000000 | (slot << 11) | reg) >>> 0);
  return bus.pioRead(PCI_CONFIG_DATA, 4);
}

/** Writes the dword at `reg` of the configuration space of 00:`slot`.0. */
export function configWrite(bus: IoBus, slot: number, reg: number, value: number): void {
  bus.pioWrite(PCI_CONFIG_ADDRESS, 4, (0x80000000 | (slot << 11) | reg) >>> 0);
  bus.pioWrite(PCI_CONFIG_DATA, 4, value);
}

interface QueueState {
  base: number;
  size: number;
  nextDesc: number;
  availIdx: number;
}

/** The legacy driver side: register accesses, queue setup, descriptors and rings. */
export class LegacyDriver {
  readonly #bus: IoBus;
  readonly #memory: GuestMemory;
  /** BAR 0's port base. */
  ioBase: number;
  readonly #queues = new Map<number, QueueState>();
  /** Next free byte of the buffer heap (above the rings). */
  #heap = 0x80000;

  constructor(bus: IoBus, memory: GuestMemory, ioBase: number) {
    this.#bus = bus;
    this.#memory = memory;
    this.ioBase = ioBase;
  }

  /** A register read at `offset` of BAR 0. */
  read(offset: number, size: PioSize): number {
    return this.#bus.pioRead(this.ioBase + offset, size);
  }

  /** A register write at `offset` of BAR 0. */
  write(offset: number, size: PioSize, value: number): void {
    this.#bus.pioWrite(this.ioBase + offset, size, value);
  }

  /**
   * virtio 1.x §3.1 (legacy order): reset, ACKNOWLEDGE, DRIVER, features, queues, DRIVER_OK.
   * Returns the device's features; accepts those in `accept`.
   */
  start(accept: number, queues: readonly { index: number; pfn: number }[]): number {
    this.write(VIRTIO_PCI_STATUS, 1, 0);
    this.#queues.clear();
    this.write(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    this.write(VIRTIO_PCI_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    const offered = this.read(VIRTIO_PCI_HOST_FEATURES, 4);
    this.write(VIRTIO_PCI_GUEST_FEATURES, 4, offered & accept);
    for (const q of queues) this.setupQueue(q.index, q.pfn);
    this.write(
      VIRTIO_PCI_STATUS,
      1,
      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK,
    );
    return offered;
  }

  /** Selects queue `index`, clears its ring memory and gives its page frame number. */
  setupQueue(index: number, pfn: number): number {
    this.write(VIRTIO_PCI_QUEUE_SEL, 2, index);
    const size = this.read(VIRTIO_PCI_QUEUE_NUM, 2);
    const base = pfn * 4096;
    if (size > 0 && this.#memory.contains(base, legacyRingBytes(size))) {
      this.#memory.fill(base, legacyRingBytes(size), 0);
    }
    this.write(VIRTIO_PCI_QUEUE_PFN, 4, pfn);
    this.#queues.set(index, { base, size, nextDesc: 0, availIdx: 0 });
    return size;
  }

  /** Takes over queue `index` as another driver left it (after a restored state). */
  adoptQueue(index: number, pfn: number, at: { availIdx: number; nextDesc: number }): void {
    this.write(VIRTIO_PCI_QUEUE_SEL, 2, index);
    const size = this.read(VIRTIO_PCI_QUEUE_NUM, 2);
    this.#queues.set(index, { base: pfn * 4096, size, ...at });
  }

  /** Reserves `length` bytes of buffer memory (16-byte aligned) and returns its address. */
  alloc(length: number): number {
    const gpa = this.#heap;
    this.#heap += Math.ceil(length / 16) * 16;
    return gpa;
  }

  /** Writes descriptor `index` of queue `queue` as given. */
  writeDescriptor(queue: number, index: number, d: RawDescriptor): void {
    const q = this.#queue(queue);
    this.#writeDescriptorAt(q.base + 16 * index, d);
  }

  #writeDescriptorAt(at: number, d: RawDescriptor): void {
    this.#memory.write32(at, d.addr % 2 ** 32);
    this.#memory.write32(at + 4, Math.floor(d.addr / 2 ** 32));
    this.#memory.write32(at + 8, d.len);
    this.#memory.write16(at + 12, d.flags);
    this.#memory.write16(at + 14, d.next);
  }

  /** Puts `head` in the next slot of the available ring and publishes it (no notify). */
  pushAvailable(queue: number, head: number): void {
    const q = this.#queue(queue);
    const avail = q.base + 16 * q.size;
    this.#memory.write16(avail + 4 + 2 * (q.availIdx % q.size), head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.#memory.write16(avail + 2, q.availIdx);
  }

  /** Sets the available ring's index to `idx` without writing entries. */
  setAvailableIndex(queue: number, idx: number): void {
    const q = this.#queue(queue);
    q.availIdx = idx & 0xffff;
    this.#memory.write16(q.base + 16 * q.size + 2, q.availIdx);
  }

  /** Sets the available ring's flags (VIRTQ_AVAIL_F_NO_INTERRUPT). */
  setAvailableFlags(queue: number, flags: number): void {
    const q = this.#queue(queue);
    this.#memory.write16(q.base + 16 * q.size, flags);
  }

  /** Notifies the device of new buffers in queue `queue`. */
  notify(queue: number): void {
    this.write(VIRTIO_PCI_QUEUE_NOTIFY, 2, queue);
  }

  /**
   * Lays out a request in fresh buffers and descriptors, makes it available and notifies.
   * `out` parts are copied into guest memory; `in` parts are zeroed. With `indirect` the
   * descriptors go in a fresh indirect table (virtio 1.x §2.7.5.3) that one ring entry names.
   */
  submit(
    queue: number,
    parts: readonly RequestPart[],
    options: { notify?: boolean; indirect?: boolean } = {},
  ): Submitted {
    const q = this.#queue(queue);
    const placed = parts.map((part) => {
      const length = 'out' in part ? part.out.length : part.in;
      const gpa = this.alloc(length);
      if ('out' in part) this.#memory.write(gpa, part.out);
      else this.#memory.fill(gpa, length, 0);
      return { gpa, length, write: !('out' in part) };
    });
    const head = q.nextDesc;
    const table = options.indirect === true ? this.alloc(16 * placed.length) : undefined;
    placed.forEach((p, i) => {
      const last = i === placed.length - 1;
      const index = table === undefined ? (head + i) % q.size : i;
      const next = table === undefined ? (index + 1) % q.size : i + 1;
      const d = {
        addr: p.gpa,
        len: p.length,
        flags: (p.write ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT),
        next: last ? 0 : next,
      };
      if (table === undefined) this.writeDescriptor(queue, index, d);
      else this.#writeDescriptorAt(table + 16 * index, d);
    });
    if (table === undefined) {
      q.nextDesc = (head + placed.length) % q.size;
    } else {
      const len = 16 * placed.length;
      this.writeDescriptor(queue, head, {
        addr: table,
        len,
        flags: VIRTQ_DESC_F_INDIRECT,
        next: 0,
      });
      q.nextDesc = (head + 1) % q.size;
    }
    this.pushAvailable(queue, head);
    if (options.notify ?? true) this.notify(queue);
    return { head, parts: placed.map(({ gpa, length }) => ({ gpa, length })) };
  }

  /** The used ring's index of queue `queue`. */
  usedIndex(queue: number): number {
    const q = this.#queue(queue);
    return this.#memory.read16(q.base + this.#usedOffset(q) + 2);
  }

  /** Used ring element `i` of queue `queue`. */
  usedElement(queue: number, i: number): { id: number; len: number } {
    const q = this.#queue(queue);
    const at = q.base + this.#usedOffset(q) + 4 + 8 * (i % q.size);
    return { id: this.#memory.read32(at), len: this.#memory.read32(at + 4) };
  }

  /** Bytes of guest memory at `gpa`, copied. */
  bytes(gpa: number, length: number): Uint8Array {
    return this.#memory.view(gpa, length).slice();
  }

  #usedOffset(q: QueueState): number {
    return Math.ceil((16 * q.size + 6 + 2 * q.size) / 4096) * 4096;
  }

  #queue(index: number): QueueState {
    const q = this.#queues.get(index);
    if (q === undefined) throw new Error(`queue ${index} was not set up`);
    return q;
  }
}

/**
 * Resolves once `done()` holds, looking after each turn of the event loop (then every few
 * milliseconds); rejects naming `what` if it never does, so a broken device fails its test
 * instead of hanging the run.
 */
export async function until(done: () => boolean, what = 'the condition'): Promise<void> {
  for (let turn = 0; !done(); turn++) {
    if (turn > 20_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => {
      if (turn < 1000) setImmediate(resolve);
      else setTimeout(resolve, 5);
    });
  }
}
