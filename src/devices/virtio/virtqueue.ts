/**
 * Split virtqueues (virtio 1.x §2.7) as the device sees them, written for a driver that may be
 * hostile: every ring and buffer address is checked against guest RAM before it is touched,
 * descriptor chains are bounded by the queue size (which also ends loops), and anything
 * malformed raises a {@link VirtqueueError} the transport turns into the device's error state.
 * Nothing here reads or writes outside RAM, and every write goes through {@link GuestMemory}
 * so the engine drops code cached on the pages written.
 *
 * Ring layout, for a queue of N entries (virtio 1.x §2.7):
 * - descriptor table: N × 16 bytes (addr le64, len le32, flags le16, next le16);
 * - available ring: flags le16, idx le16, ring[N] le16, used_event le16;
 * - used ring: flags le16, idx le16, ring[N] of (id le32, len le32), avail_event le16.
 * The legacy interface puts all three in one guest-physical area: the available ring right
 * after the table, the used ring at the next 4096-byte boundary.
 */

import type { GuestMemory } from '../../engine/memory.js';
import { arrayField, intField, intValue, recordValue } from '../state.js';
import type { StateRecord } from '../state.js';
import {
  VIRTIO_PCI_VRING_ALIGN,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from './constants.js';

/** Bytes of one descriptor. */ export const VIRTQ_DESC_SIZE = 16;
/** The largest queue the split ring allows (virtio 1.x §2.7: Queue Size ≤ 32768). */
export const VIRTQ_MAX_SIZE = 32768;

/** A queue the driver set up wrongly, or a chain it should not have made. */
export class VirtqueueError extends Error {
  override name = 'VirtqueueError';
}

/** One guest buffer of a chain: `length` bytes at guest-physical `gpa`, inside RAM. */
export interface BufferSegment {
  readonly gpa: number;
  readonly length: number;
}

/** Where the three parts of a split ring sit in guest-physical memory. */
export interface RingAddresses {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
}

/**
 * A descriptor chain taken from the available ring: its device-readable buffers, then its
 * device-writable ones, each checked to lie in RAM. Reads and writes address the readable or
 * writable part as one byte stream (virtio 1.x §2.6.4, message framing).
 */
export class DescriptorChain {
  /** The head descriptor's index: what goes back in the used ring. */
  readonly head: number;
  /** Device-readable buffers, in chain order. */
  readonly readable: readonly BufferSegment[];
  /** Device-writable buffers, in chain order. */
  readonly writable: readonly BufferSegment[];
  /** Total bytes of the readable buffers. */
  readonly readableLength: number;
  /** Total bytes of the writable buffers. */
  readonly writableLength: number;
  readonly #memory: GuestMemory;
  #cancelled = false;

  /** A chain over buffers already checked to lie in `memory`. */
  constructor(
    memory: GuestMemory,
    head: number,
    readable: readonly BufferSegment[],
    writable: readonly BufferSegment[],
  ) {
    this.#memory = memory;
    this.head = head;
    this.readable = readable;
    this.writable = writable;
    this.readableLength = readable.reduce((n, s) => n + s.length, 0);
    this.writableLength = writable.reduce((n, s) => n + s.length, 0);
  }

  /**
   * True once the driver reset the device while the chain was in flight: its buffers may
   * belong to something else now, so {@link write} does nothing and the device should stop.
   */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Marks the chain as abandoned by a reset (the transport's call). */
  cancel(): void {
    this.#cancelled = true;
  }

  /**
   * Copies `into.length` bytes of the readable part, from byte `offset` of it.
   * @throws RangeError when the range passes the readable part's end
   */
  read(offset: number, into: Uint8Array): void {
    this.#walk(this.readable, this.readableLength, offset, into.length, (gpa, at, n) => {
      into.set(this.#memory.view(gpa, n), at);
    });
  }

  /**
   * Copies `data` into the writable part at byte `offset` of it, through GuestMemory; nothing
   * once the chain is cancelled.
   * @throws RangeError when the range passes the writable part's end
   */
  write(offset: number, data: Uint8Array): void {
    if (this.#cancelled) return;
    this.#walk(this.writable, this.writableLength, offset, data.length, (gpa, at, n) => {
      this.#memory.write(gpa, data.subarray(at, at + n));
    });
  }

  #walk(
    segments: readonly BufferSegment[],
    total: number,
    offset: number,
    length: number,
    copy: (gpa: number, at: number, n: number) => void,
  ): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > total) {
      throw new RangeError(`${length} bytes at ${offset} pass the buffers' ${total} bytes`);
    }
    let skip = offset;
    let done = 0;
    for (const s of segments) {
      if (done === length) break;
      if (skip >= s.length) {
        skip -= s.length;
        continue;
      }
      const n = Math.min(s.length - skip, length - done);
      copy(s.gpa + skip, done, n);
      done += n;
      skip = 0;
    }
  }
}

/** Bytes the legacy layout of an `size`-entry queue spans from the descriptor table. */
export function legacyRingBytes(size: number): number {
  return legacyUsedOffset(size) + 6 + 8 * size;
}

function legacyUsedOffset(size: number): number {
  const beforeUsed = VIRTQ_DESC_SIZE * size + 6 + 2 * size;
  return Math.ceil(beforeUsed / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN;
}

/** One split virtqueue of a fixed size, disabled until the driver gives it an address. */
export class SplitVirtqueue {
  /** Number of entries: a power of two. */
  readonly size: number;
  readonly #memory: GuestMemory;
  #rings: RingAddresses | undefined;
  /** The driver's available index up to which chains were taken. */
  #lastAvail = 0;
  /** The used index the device writes next. */
  #usedIdx = 0;

  /**
   * @throws RangeError unless `size` is a power of two from 1 to {@link VIRTQ_MAX_SIZE}
   */
  constructor(memory: GuestMemory, size: number) {
    if (!Number.isInteger(size) || size < 1 || size > VIRTQ_MAX_SIZE || size & (size - 1)) {
      throw new RangeError(`virtqueue size ${size} is not a power of two up to 32768`);
    }
    this.#memory = memory;
    this.size = size;
  }

  /** True once the rings have an address. */
  get enabled(): boolean {
    return this.#rings !== undefined;
  }

  /** The rings' addresses, or undefined while disabled. */
  get rings(): RingAddresses | undefined {
    return this.#rings;
  }

  /** The used index the device writes next. */
  get usedIndex(): number {
    return this.#usedIdx;
  }

  /** The available index up to which chains were taken. */
  get lastAvailIndex(): number {
    return this.#lastAvail;
  }

  /**
   * Enables the queue with the legacy layout starting at `base` (queue PFN × 4096).
   * @throws VirtqueueError when any part of the rings lies outside RAM
   */
  setLegacyBase(base: number): void {
    const avail = base + VIRTQ_DESC_SIZE * this.size;
    this.setRings({ desc: base, avail, used: base + legacyUsedOffset(this.size) });
  }

  /**
   * Enables the queue with its parts at `rings`, as the modern interface gives them; the
   * indices start from zero.
   * @throws VirtqueueError when any part lies outside RAM or is misaligned (virtio 1.x §2.7)
   */
  setRings(rings: RingAddresses): void {
    const n = this.size;
    const parts: [string, number, number, number][] = [
      ['descriptor table', rings.desc, VIRTQ_DESC_SIZE * n, 16],
      ['available ring', rings.avail, 6 + 2 * n, 2],
      ['used ring', rings.used, 6 + 8 * n, 4],
    ];
    for (const [what, gpa, length, align] of parts) {
      if (!this.#memory.contains(gpa, length) || gpa % align !== 0) {
        throw new VirtqueueError(
          `${what} at 0x${gpa.toString(16)} (${length} bytes) is outside RAM or misaligned`,
        );
      }
    }
    this.#rings = rings;
    this.#lastAvail = 0;
    this.#usedIdx = 0;
  }

  /** Disables the queue and forgets its indices (a device reset, or a PFN of 0). */
  reset(): void {
    this.#rings = undefined;
    this.#lastAvail = 0;
    this.#usedIdx = 0;
  }

  /** Chains the driver made available and the device has not taken yet. */
  pending(): number {
    const r = this.#rings;
    if (r === undefined) return 0;
    const ahead = (this.#memory.read16(r.avail + 2) - this.#lastAvail) & 0xffff;
    // virtio 1.x §2.7.6: the driver never has more than Queue Size entries outstanding.
    if (ahead > this.size) {
      throw new VirtqueueError(
        `available index is ${ahead} entries ahead of the device, more than the queue size ${this.size}`,
      );
    }
    return ahead;
  }

  /**
   * Takes the next available chain, or undefined when there is none.
   * @param indirect whether the driver negotiated VIRTIO_RING_F_INDIRECT_DESC
   * @throws VirtqueueError when the available index or the chain is malformed; the chain is
   *   then not taken
   */
  pop(indirect = false): DescriptorChain | undefined {
    const r = this.#rings;
    if (r === undefined || this.pending() === 0) return undefined;
    const head = this.#memory.read16(r.avail + 4 + 2 * (this.#lastAvail % this.size));
    const chain = this.chainAt(head, indirect);
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    return chain;
  }

  /**
   * Reads the chain starting at descriptor `head`, checking every descriptor.
   * @param indirect whether the driver negotiated VIRTIO_RING_F_INDIRECT_DESC
   * @throws VirtqueueError for a head or next index past the table, a chain longer than the
   *   queue (which includes every loop), an indirect descriptor not negotiated or misplaced,
   *   an empty buffer, a buffer outside RAM, or a readable buffer after a writable one
   */
  chainAt(head: number, indirect = false): DescriptorChain {
    const r = this.#rings;
    if (r === undefined) throw new VirtqueueError('queue is not set up');
    const readable: BufferSegment[] = [];
    const writable: BufferSegment[] = [];
    const table = this.#follow(r.desc, this.size, head, readable, writable, indirect);
    if (table !== undefined) {
      // virtio 1.x §2.7.5.3: the chain goes on in the table, from its first entry; a table of
      // more than Queue Size entries would make a chain longer than the queue (§2.7.5.3.1).
      if (table.length % VIRTQ_DESC_SIZE !== 0 || table.length / VIRTQ_DESC_SIZE > this.size) {
        throw new VirtqueueError(
          `descriptor ${head}: indirect table of ${table.length} bytes is not 1 to ${this.size} descriptors`,
        );
      }
      this.#follow(table.gpa, table.length / VIRTQ_DESC_SIZE, 0, readable, writable, false);
    }
    return new DescriptorChain(this.#memory, head, readable, writable);
  }

  /**
   * Follows a chain through the `entries`-descriptor table at `table` from `first`, adding its
   * buffers to `readable` and `writable`. Returns the indirect table a lone head descriptor
   * refers to, when `indirect` allows one.
   */
  #follow(
    table: number,
    entries: number,
    first: number,
    readable: BufferSegment[],
    writable: BufferSegment[],
    indirect: boolean,
  ): BufferSegment | undefined {
    let index = first;
    for (let count = 0; ; count++) {
      if (index >= entries) {
        throw new VirtqueueError(`descriptor index ${index} is past the table's ${entries}`);
      }
      // virtio 1.x §2.7.5: a chain is at most Queue Size descriptors long; more means a loop.
      if (count >= entries) {
        throw new VirtqueueError(`chain from descriptor ${first} is longer than the table`);
      }
      const at = table + VIRTQ_DESC_SIZE * index;
      const gpa = this.#memory.read32(at) + this.#memory.read32(at + 4) * 2 ** 32;
      const length = this.#memory.read32(at + 8);
      const flags = this.#memory.read16(at + 12);
      if (length === 0) throw new VirtqueueError(`descriptor ${index} has length 0`);
      if (!this.#memory.contains(gpa, length)) {
        throw new VirtqueueError(
          `descriptor ${index}: buffer 0x${gpa.toString(16)}+0x${length.toString(16)} is outside RAM`,
        );
      }
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        // virtio 1.x §2.7.5.3.1: never with NEXT, never inside a table; Linux puts it alone.
        if (!indirect || count !== 0 || flags & VIRTQ_DESC_F_NEXT) {
          throw new VirtqueueError(`descriptor ${index} is indirect where that is not allowed`);
        }
        return { gpa, length };
      }
      if (flags & VIRTQ_DESC_F_WRITE) {
        writable.push({ gpa, length });
      } else if (writable.length > 0) {
        // virtio 1.x §2.7.4.2: device-writable descriptors come after device-readable ones.
        throw new VirtqueueError(`descriptor ${index} is readable after a writable one`);
      } else {
        readable.push({ gpa, length });
      }
      if (!(flags & VIRTQ_DESC_F_NEXT)) return undefined;
      index = this.#memory.read16(at + 14);
    }
  }

  /**
   * Returns chain `head` to the driver with `written` bytes written into its writable buffers
   * (virtio 1.x §2.7.8): the used element, then the used index. The rings were checked to lie
   * in RAM when they were set up.
   */
  pushUsed(head: number, written: number): void {
    const r = this.#rings;
    if (r === undefined) return;
    const slot = r.used + 4 + 8 * (this.#usedIdx % this.size);
    this.#memory.write32(slot, head);
    this.#memory.write32(slot + 4, written);
    this.#usedIdx = (this.#usedIdx + 1) & 0xffff;
    this.#memory.write16(r.used + 2, this.#usedIdx);
  }

  /** False when the driver set VIRTQ_AVAIL_F_NO_INTERRUPT (virtio 1.x §2.7.7). */
  interruptWanted(): boolean {
    const r = this.#rings;
    return r !== undefined && (this.#memory.read16(r.avail) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** The queue's addresses and indices. */
  saveState(): StateRecord {
    const r = this.#rings;
    return {
      rings: r === undefined ? null : [r.desc, r.avail, r.used],
      lastAvail: this.#lastAvail,
      usedIdx: this.#usedIdx,
    };
  }

  /**
   * Restores {@link saveState}'s record (guest memory must already hold the rings).
   * @throws Error when the record is malformed; VirtqueueError when its rings are not in RAM
   */
  loadState(owner: string, record: unknown): void {
    const q = recordValue(owner, record, 'queue');
    const lastAvail = intField(owner, q, 'lastAvail', 0, 0xffff);
    const usedIdx = intField(owner, q, 'usedIdx', 0, 0xffff);
    if (q.rings === null) {
      this.reset();
      return;
    }
    const [desc, avail, used] = arrayField(owner, q, 'rings', 3, 3).map((v, i) =>
      intValue(owner, v, `"rings[${i}]"`, 0, Number.MAX_SAFE_INTEGER),
    );
    this.setRings({ desc: desc ?? 0, avail: avail ?? 0, used: used ?? 0 });
    this.#lastAvail = lastAvail;
    this.#usedIdx = usedIdx;
  }
}
