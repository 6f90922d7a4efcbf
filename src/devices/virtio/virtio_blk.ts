/**
 * The virtio block device (virtio 1.x §5.2) over a {@link DiskImage}: one request queue of
 * 256 entries with indirect descriptor tables, so a driver keeps several requests of the
 * largest size in flight. Requests run asynchronously on the image (whose file I/O runs on
 * libuv's thread pool, off the vCPU's loop), a few pieces of each at once; each completion
 * writes the status byte and the used ring, and interrupts the driver.
 *
 * A request is framed over its chain as virtio 1.x §5.2.6 lays it out, whatever the split
 * into descriptors: a 16-byte header (type, reserved, sector) at the start of the readable
 * part, the data (readable for writes, writable for reads), and the status byte as the last
 * writable byte. A chain too short for the header or the status is a protocol error (the
 * device then needs a reset); a request outside the disk, a write to a read-only disk or a
 * length that is not whole sectors is answered VIRTIO_BLK_S_IOERR; an unknown type,
 * VIRTIO_BLK_S_UNSUPP.
 */

import { basename } from 'node:path';
import { log } from '../../common/log.js';
import type { DiskImage } from '../../block/image.js';
import { SECTOR_SIZE } from '../../block/image.js';
import { checkStateHeader } from '../state.js';
import type { DeviceState } from '../types.js';
import {
  VIRTIO_BLK_CFG_BLK_SIZE,
  VIRTIO_BLK_CFG_CAPACITY,
  VIRTIO_BLK_CFG_SEG_MAX,
  VIRTIO_BLK_CFG_SIZE,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_OUTHDR_SIZE,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_BARRIER,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_ID_BLOCK,
  VIRTIO_RING_F_INDIRECT_DESC,
} from './constants.js';
import type { VirtioDevice, VirtioLink } from './device.js';
import type { DescriptorChain } from './virtqueue.js';

/**
 * Entries of the request queue (vmd has 128; QEMU 256): with the largest request at seg_max
 * segments of a page, 256 lets Linux send a 1 MiB transfer as one request and a bit, not three.
 */
export const VIOBLK_QUEUE_SIZE = 256;
/** Data segments a request may have: the queue less the header and status descriptors. */
export const VIOBLK_SEG_MAX = VIOBLK_QUEUE_SIZE - 2;
/** Bytes of one piece: a request is done in pieces of at most this size. */
export const VIOBLK_CHUNK = 256 * 1024;
/** Pieces of one request done at once. */
export const VIOBLK_PIECES_IN_FLIGHT = 4;
/**
 * Piece buffers a device has: all its requests together hold at most this many times
 * {@link VIOBLK_CHUNK} bytes of host memory, however many and however large they are.
 */
export const VIOBLK_BUFFERS = 16;
/** PCI class of vmd's virtio-blk: mass storage, SCSI. */
export const PCI_CLASS_MASS_STORAGE_SCSI = 0x010000;

const STATE_DEVICE = 'virtio-blk';
/** 2: the queue grew to 256 entries, which moves the rings of a saved queue. */
const STATE_VERSION = 2;

/** How a virtio block device is built. */
export interface VirtioBlkOptions {
  /** Name for logs, e.g. `vioblk0`. */
  name: string;
  /** The disk; read-only images are offered with VIRTIO_BLK_F_RO. */
  image: DiskImage;
  /** The serial number GET_ID returns (at most 20 bytes); the image's file name by default. */
  serial?: string;
}

/** Completion of one request: the status byte and the data bytes written to the driver. */
interface Outcome {
  status: number;
  dataWritten: number;
}

/** A virtio-blk device on one disk image. */
export class VirtioBlk implements VirtioDevice {
  readonly name: string;
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly pciClass = PCI_CLASS_MASS_STORAGE_SCSI;
  readonly queueSizes = [VIOBLK_QUEUE_SIZE];
  readonly deviceFeatures: bigint;
  /** The disk's size in 512-byte sectors (a partial last sector is not addressable). */
  readonly capacity: number;
  readonly #image: DiskImage;
  readonly #id: Uint8Array;
  readonly #buffers = new BufferPool(VIOBLK_BUFFERS, VIOBLK_CHUNK);
  #link: VirtioLink | undefined;
  #ioErrorLogged = false;

  constructor(options: VirtioBlkOptions) {
    this.name = options.name;
    this.#image = options.image;
    this.capacity = Math.floor(options.image.size / SECTOR_SIZE);
    let features =
      (1n << BigInt(VIRTIO_BLK_F_SEG_MAX)) |
      (1n << BigInt(VIRTIO_BLK_F_BLK_SIZE)) |
      (1n << BigInt(VIRTIO_BLK_F_FLUSH)) |
      // A request takes one ring entry instead of one per segment: without it a request of
      // VIOBLK_SEG_MAX segments fills the ring and the driver can have one in flight at a time.
      (1n << BigInt(VIRTIO_RING_F_INDIRECT_DESC));
    if (options.image.readOnly) features |= 1n << BigInt(VIRTIO_BLK_F_RO);
    this.deviceFeatures = features;
    const serial = new TextEncoder().encode(options.serial ?? basename(options.image.path));
    this.#id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    this.#id.set(serial.subarray(0, VIRTIO_BLK_ID_BYTES));
  }

  attach(link: VirtioLink): void {
    this.#link = link;
  }

  /** virtio 1.x §5.2.4: capacity, size_max (not offered), seg_max, geometry (not offered), blk_size. */
  readConfig(): Uint8Array {
    const config = new Uint8Array(VIRTIO_BLK_CFG_SIZE);
    const view = new DataView(config.buffer);
    view.setBigUint64(VIRTIO_BLK_CFG_CAPACITY, BigInt(this.capacity), true);
    view.setUint32(VIRTIO_BLK_CFG_SEG_MAX, VIOBLK_SEG_MAX, true);
    view.setUint32(VIRTIO_BLK_CFG_BLK_SIZE, SECTOR_SIZE, true);
    return config;
  }

  /** The configuration is read only. */
  writeConfig(): void {
    /* nothing the driver may change */
  }

  handle(queue: number, chain: DescriptorChain): void {
    const link = this.#link;
    if (link === undefined) return;
    // virtio 1.x §5.2.6.2: a request has at least the header and the status byte.
    if (chain.readableLength < VIRTIO_BLK_OUTHDR_SIZE || chain.writableLength < 1) {
      link.fail(`request ${chain.head} has no room for the header or the status byte`);
      return;
    }
    const header = new Uint8Array(VIRTIO_BLK_OUTHDR_SIZE);
    chain.read(0, header);
    const view = new DataView(header.buffer);
    const type = (view.getUint32(0, true) & ~VIRTIO_BLK_T_BARRIER) >>> 0;
    const sector = view.getUint32(8, true) + view.getUint32(12, true) * 2 ** 32;
    this.#run(type, sector, chain).then(
      (outcome) => {
        this.#finish(queue, chain, outcome);
      },
      (error: unknown) => {
        // #run answers every failure with a status; this is a bug, not the guest's doing.
        log.warn(
          '%s: request failed: %s',
          this.name,
          error instanceof Error ? error : String(error),
        );
        this.#finish(queue, chain, { status: VIRTIO_BLK_S_IOERR, dataWritten: 0 });
      },
    );
  }

  /** Drops nothing: chains in flight were cancelled by the transport and finish harmlessly. */
  reset(): void {
    /* no per-driver state */
  }

  /** The device keeps no state of its own; requests in flight are the transport's. */
  saveState(): DeviceState {
    return { device: STATE_DEVICE, version: STATE_VERSION };
  }

  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, STATE_DEVICE, STATE_VERSION);
  }

  async #run(type: number, sector: number, chain: DescriptorChain): Promise<Outcome> {
    switch (type) {
      case VIRTIO_BLK_T_IN:
        return this.#transfer('read', sector, chain, chain.writableLength - 1);
      case VIRTIO_BLK_T_OUT:
        return this.#transfer(
          'write',
          sector,
          chain,
          chain.readableLength - VIRTIO_BLK_OUTHDR_SIZE,
        );
      case VIRTIO_BLK_T_FLUSH:
        return this.#io(async () => {
          await this.#image.flush();
          return 0;
        });
      case VIRTIO_BLK_T_GET_ID: {
        // virtio 1.x §5.2.6: up to VIRTIO_BLK_ID_BYTES, NUL-padded, in the writable data.
        const n = Math.min(VIRTIO_BLK_ID_BYTES, chain.writableLength - 1);
        chain.write(0, this.#id.subarray(0, n));
        return { status: VIRTIO_BLK_S_OK, dataWritten: n };
      }
      default:
        return { status: VIRTIO_BLK_S_UNSUPP, dataWritten: 0 };
    }
  }

  /** A read into, or a write from, the chain's data, in pieces of at most {@link VIOBLK_CHUNK}. */
  async #transfer(
    kind: 'read' | 'write',
    sector: number,
    chain: DescriptorChain,
    length: number,
  ): Promise<Outcome> {
    // Whole sectors inside the disk only (virtio 1.x §5.2.6.1 asks the driver for multiples
    // of 512 bytes); anything else is an I/O error, not a broken device.
    const inside =
      Number.isSafeInteger(sector) &&
      length % SECTOR_SIZE === 0 &&
      sector + length / SECTOR_SIZE <= this.capacity;
    if (!inside || (kind === 'write' && this.#image.readOnly)) {
      return { status: VIRTIO_BLK_S_IOERR, dataWritten: 0 };
    }
    const start = sector * SECTOR_SIZE;
    return this.#io(async () => {
      let next = 0;
      let failed = false;
      // A few workers take the pieces in turn: the image works on several at once while the
      // promises a request makes stay few whatever its length.
      const worker = async (): Promise<void> => {
        while (next < length && !failed) {
          const done = next;
          next += VIOBLK_CHUNK;
          const buffer = await this.#buffers.take();
          try {
            // A reset while waiting: the buffers belong to something else now.
            if (chain.cancelled) return;
            const piece = buffer.subarray(0, Math.min(VIOBLK_CHUNK, length - done));
            if (kind === 'read') {
              await this.#image.read(start + done, piece);
              chain.write(done, piece);
            } else {
              chain.read(VIRTIO_BLK_OUTHDR_SIZE + done, piece);
              await this.#image.write(start + done, piece);
            }
          } catch (error) {
            failed = true;
            throw error;
          } finally {
            this.#buffers.give(buffer);
          }
        }
      };
      const workers = Math.min(VIOBLK_PIECES_IN_FLIGHT, Math.ceil(length / VIOBLK_CHUNK));
      // Every piece settles before the request completes: none writes to the driver's
      // buffers once it has them back.
      const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
      for (const result of settled) if (result.status === 'rejected') throw result.reason;
      return kind === 'read' ? length : 0;
    });
  }

  /** Runs image work, turning its failures into VIRTIO_BLK_S_IOERR (logged once). */
  async #io(work: () => Promise<number>): Promise<Outcome> {
    try {
      return { status: VIRTIO_BLK_S_OK, dataWritten: await work() };
    } catch (error) {
      if (!this.#ioErrorLogged) {
        this.#ioErrorLogged = true;
        log.warn(
          '%s: I/O error on %s: %s',
          this.name,
          this.#image.path,
          error instanceof Error ? error : String(error),
        );
      }
      return { status: VIRTIO_BLK_S_IOERR, dataWritten: 0 };
    }
  }

  #finish(queue: number, chain: DescriptorChain, outcome: Outcome): void {
    const link = this.#link;
    if (link === undefined || chain.cancelled) return;
    try {
      chain.write(chain.writableLength - 1, Uint8Array.of(outcome.status));
      link.complete(queue, chain, outcome.dataWritten + 1);
    } catch (error) {
      link.fail(`request ${chain.head}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * Buffers of one size lent first come, first served, made as they are first needed: what a
 * device's requests hold of host memory is bounded by the pool, not by the driver.
 */
class BufferPool {
  readonly #count: number;
  readonly #size: number;
  readonly #free: Uint8Array[] = [];
  readonly #waiting: ((buffer: Uint8Array) => void)[] = [];
  #made = 0;

  constructor(count: number, size: number) {
    this.#count = count;
    this.#size = size;
  }

  /** A buffer, once one is free. */
  take(): Promise<Uint8Array> {
    const free = this.#free.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (this.#made < this.#count) {
      this.#made++;
      return Promise.resolve(new Uint8Array(this.#size));
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Returns a buffer {@link take} gave. */
  give(buffer: Uint8Array): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) this.#free.push(buffer);
    else waiter(buffer);
  }
}
