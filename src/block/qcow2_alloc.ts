/**
 * qcow2 host cluster management: the refcount table and refcount blocks, kept exact (no lazy
 * refcounts), and an append-only allocator.
 *
 * Clusters are handed out from the end of the file ({@link Refcounts.reserve}), skipping any
 * that already have a reference; freed clusters are not reused. A reservation only moves the
 * end pointer: the clusters count as used once {@link Refcounts.increment} has written their
 * refcounts, which the caller does after writing their contents and before pointing at them.
 *
 * {@link Refcounts.increment} may need refcount blocks that do not exist yet, and a larger
 * refcount table to hold them; it allocates both from the end of the file too, and writes in
 * this order, with a barrier (fdatasync) between steps:
 * 1. new refcount blocks (complete, counting themselves and every new cluster in their range)
 *    and the new refcount table, if any — nothing points at them yet;
 * 2. the changed entries of existing refcount blocks;
 * 3. the pointers: entries of the existing refcount table, or the header's refcount table
 *    fields when the table moved;
 * 4. when the table moved, the old table's clusters are released (refcount 0).
 * A crash at any point leaves at worst leaked clusters (refcount 1, unreferenced), never a
 * referenced cluster whose refcount is 0.
 */

import type { ImageFile } from './image_file.js';
import { DiskError } from './image.js';
import { hex, readAt, roundUp, writeAt } from './io.js';
import { FIELD, MAX_REFCOUNT_TABLE_BYTES } from './qcow2_header.js';
import {
  decodePointer,
  encodePointer,
  type MetadataMap,
  type TableContext,
} from './qcow2_table.js';

/** A run of host clusters, by cluster index. */
export interface ClusterRange {
  start: number;
  count: number;
}

/** What the refcount code needs from the image. */
export interface RefcountIo extends TableContext {
  readonly handle: ImageFile;
  readonly refcountOrder: number;
  readonly meta: MetadataMap;
  /** Waits until every write issued so far is on stable storage. */
  barrier(): Promise<void>;
}

/** Reads refcount entry `index` of `block` for entries of 2^order bits. */
export function getRefcount(block: Uint8Array, index: number, order: number): number {
  if (order < 3) {
    const bits = 1 << order;
    const byte = block[index >> (3 - order)] ?? 0;
    return (byte >> ((index << order) & 7)) & ((1 << bits) - 1);
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  switch (order) {
    case 3:
      return view.getUint8(index);
    case 4:
      return view.getUint16(index * 2);
    case 5:
      return view.getUint32(index * 4);
    default: {
      const high = view.getUint32(index * 8);
      return high > 0x1fffff
        ? Number.MAX_SAFE_INTEGER
        : high * 2 ** 32 + view.getUint32(index * 8 + 4);
    }
  }
}

/** Writes refcount entry `index` of `block`; returns the byte range that changed. */
export function setRefcount(
  block: Uint8Array,
  index: number,
  order: number,
  value: number,
): [number, number] {
  if (order < 3) {
    const bits = 1 << order;
    const at = index >> (3 - order);
    const shift = (index << order) & 7;
    const mask = ((1 << bits) - 1) << shift;
    block[at] = ((block[at] ?? 0) & ~mask) | ((value << shift) & mask);
    return [at, at + 1];
  }
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const width = 1 << (order - 3);
  const at = index * width;
  if (order === 3) view.setUint8(at, value);
  else if (order === 4) view.setUint16(at, value);
  else if (order === 5) view.setUint32(at, value);
  else {
    view.setUint32(at, Math.floor(value / 2 ** 32));
    view.setUint32(at + 4, value % 2 ** 32);
  }
  return [at, at + width];
}

/** A refcount block being changed: its copy and the byte range that differs. */
interface Dirty {
  data: Uint8Array;
  low: number;
  high: number;
}

/** The image's refcounts and allocator. */
export class Refcounts {
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly clusterSize: number;
  /** Refcount entries per block. */
  private readonly perBlock: number;
  private readonly max: number;

  private constructor(
    private readonly io: RefcountIo,
    private table: Uint8Array,
    private tableOffset: number,
    /** The allocation pointer: the first host offset not yet handed out. */
    private end: number,
  ) {
    this.clusterSize = 2 ** io.clusterBits;
    this.perBlock = (this.clusterSize * 8) >> io.refcountOrder;
    this.max = io.refcountOrder === 6 ? Number.MAX_SAFE_INTEGER : 2 ** (1 << io.refcountOrder) - 1;
  }

  /**
   * Reads and checks the refcount table (every block inside the file, cluster-aligned, not
   * overlapping other metadata, which is recorded in `io.meta`).
   */
  static async load(
    io: RefcountIo,
    tableOffset: number,
    tableClusters: number,
    fileEnd: number,
  ): Promise<Refcounts> {
    const clusterSize = 2 ** io.clusterBits;
    const table = new Uint8Array(tableClusters * clusterSize);
    await readAt(io.handle, table, tableOffset);
    io.meta.add(tableOffset, tableClusters, 'the refcount table');
    for (let i = 0; i < table.length / 8; i++) {
      const what = (): string => `refcount table entry ${i}`;
      const { offset } = decodePointer(io, table, i, what);
      if (offset === 0) continue;
      if (offset + clusterSize > fileEnd) {
        throw new DiskError(
          'corrupt',
          `${io.path}: refcount block ${i} at ${hex(offset)} is beyond the end of the file`,
        );
      }
      io.meta.add(offset, 1, `refcount block ${i}`);
    }
    return new Refcounts(io, table, tableOffset, fileEnd);
  }

  /** The allocation pointer: every host offset from here on is free. */
  get allocationEnd(): number {
    return this.end;
  }

  private get capacity(): number {
    return this.table.length / 8;
  }

  private blockOffset(index: number): number {
    if (index >= this.capacity) return 0;
    return decodePointer(this.io, this.table, index, () => `refcount table entry ${index}`).offset;
  }

  private async block(index: number): Promise<Uint8Array | undefined> {
    const cached = this.blocks.get(index);
    if (cached !== undefined) return cached;
    const offset = this.blockOffset(index);
    if (offset === 0) return undefined;
    const data = new Uint8Array(this.clusterSize);
    await readAt(this.io.handle, data, offset);
    this.blocks.set(index, data);
    return data;
  }

  /** The refcount of host cluster `cluster` (an index, not an offset). */
  async get(cluster: number): Promise<number> {
    const block = await this.block(Math.floor(cluster / this.perBlock));
    return block === undefined
      ? 0
      : getRefcount(block, cluster % this.perBlock, this.io.refcountOrder);
  }

  /**
   * Hands out `count` contiguous free clusters at the end of the file and returns the offset
   * of the first. Their refcounts stay 0 until {@link increment}.
   */
  async reserve(count: number): Promise<number> {
    let start = this.end / this.clusterSize;
    for (let c = start; c < start + count; c++) {
      if ((await this.get(c)) !== 0) start = c + 1;
    }
    this.end = (start + count) * this.clusterSize;
    return start * this.clusterSize;
  }

  /**
   * Adds one reference to every cluster in `ranges` (clusters from {@link reserve} whose
   * contents are written), growing the refcount structures as needed, in the order the module
   * comment describes. On return the refcounts are written but not necessarily durable.
   */
  async increment(ranges: readonly ClusterRange[]): Promise<void> {
    const work = ranges.map((r) => ({ ...r }));
    const fresh = new Map<number, { offset: number; data: Uint8Array }>();
    let moved: { offset: number; clusters: number; range: ClusterRange } | undefined;
    const capacity = (): number =>
      moved === undefined ? this.capacity : (moved.clusters * this.clusterSize) / 8;
    for (;;) {
      let grew = false;
      let last = 0;
      for (let w = 0; w < work.length; w++) {
        const r = work[w];
        if (r === undefined) continue;
        const first = Math.floor(r.start / this.perBlock);
        last = Math.max(last, Math.floor((r.start + r.count - 1) / this.perBlock));
        for (let b = first; b <= Math.floor((r.start + r.count - 1) / this.perBlock); b++) {
          if (fresh.has(b) || this.blockOffset(b) !== 0) continue;
          const offset = await this.reserve(1);
          fresh.set(b, { offset, data: new Uint8Array(this.clusterSize) });
          work.push({ start: offset / this.clusterSize, count: 1 });
          grew = true;
        }
      }
      if (last >= capacity()) {
        const entries = Math.max(last + 1, capacity() * 2);
        const clusters = Math.ceil((entries * 8) / this.clusterSize) + 1;
        if (clusters * this.clusterSize > MAX_REFCOUNT_TABLE_BYTES) {
          throw new DiskError('unsupported', `${this.io.path}: refcount table would exceed 8 MiB`);
        }
        if (moved !== undefined) work.splice(work.indexOf(moved.range), 1);
        const offset = await this.reserve(clusters);
        moved = { offset, clusters, range: { start: offset / this.clusterSize, count: clusters } };
        work.push(moved.range);
        grew = true;
      }
      if (!grew) break;
    }

    const dirty = new Map<number, Dirty>();
    for (const r of work) {
      for (let c = r.start; c < r.start + r.count; c++) {
        const b = Math.floor(c / this.perBlock);
        const i = c % this.perBlock;
        const block = fresh.get(b);
        if (block !== undefined) {
          setRefcount(
            block.data,
            i,
            this.io.refcountOrder,
            getRefcount(block.data, i, this.io.refcountOrder) + 1,
          );
          continue;
        }
        await this.change(dirty, b, i, 1);
      }
    }

    const newTable =
      moved === undefined ? undefined : new Uint8Array(moved.clusters * this.clusterSize);
    newTable?.set(this.table);
    for (const [b, { offset }] of fresh)
      if (newTable !== undefined) encodePointer(newTable, b, offset);
    if (fresh.size > 0 || moved !== undefined) {
      for (const { offset, data } of fresh.values()) await writeAt(this.io.handle, data, offset);
      if (moved !== undefined && newTable !== undefined) {
        await writeAt(this.io.handle, newTable, moved.offset);
      }
      await this.io.barrier();
    }
    await this.writeDirty(dirty);
    if (fresh.size > 0 || moved !== undefined) await this.io.barrier();
    for (const [b, { offset, data }] of fresh) {
      this.io.meta.add(offset, 1, `refcount block ${b}`);
      this.blocks.set(b, data);
    }
    if (moved !== undefined && newTable !== undefined) {
      const fields = new Uint8Array(12);
      const view = new DataView(fields.buffer);
      view.setBigUint64(0, BigInt(moved.offset));
      view.setUint32(8, moved.clusters);
      await writeAt(this.io.handle, fields, FIELD.refcountTableOffset);
      const old = { offset: this.tableOffset, clusters: this.table.length / this.clusterSize };
      this.io.meta.remove(old.offset, old.clusters);
      this.io.meta.add(moved.offset, moved.clusters, 'the refcount table');
      this.table = newTable;
      this.tableOffset = moved.offset;
      await this.io.barrier();
      await this.decrement([{ start: old.offset / this.clusterSize, count: old.clusters }]);
    } else if (fresh.size > 0) {
      let low = this.table.length;
      let high = 0;
      const table = this.table.slice();
      for (const [b, { offset }] of fresh) {
        encodePointer(table, b, offset);
        low = Math.min(low, b * 8);
        high = Math.max(high, b * 8 + 8);
      }
      await writeAt(this.io.handle, table.subarray(low, high), this.tableOffset + low);
      this.table = table;
    }
  }

  /** Drops one reference from every cluster in `ranges`; write-through, no barrier. */
  async decrement(ranges: readonly ClusterRange[]): Promise<void> {
    const dirty = new Map<number, Dirty>();
    for (const r of ranges) {
      for (let c = r.start; c < r.start + r.count; c++) {
        await this.change(dirty, Math.floor(c / this.perBlock), c % this.perBlock, -1);
      }
    }
    await this.writeDirty(dirty);
  }

  /** Changes one refcount in a copy of an existing block, checking for underflow and overflow. */
  private async change(
    dirty: Map<number, Dirty>,
    b: number,
    i: number,
    delta: number,
  ): Promise<void> {
    let d = dirty.get(b);
    if (d === undefined) {
      const block = await this.block(b);
      if (block === undefined) {
        throw new DiskError('corrupt', `${this.io.path}: refcount block ${b} is missing`);
      }
      d = { data: block.slice(), low: block.length, high: 0 };
      dirty.set(b, d);
    }
    const old = getRefcount(d.data, i, this.io.refcountOrder);
    const value = old + delta;
    const cluster = b * this.perBlock + i;
    if (value < 0 || value > this.max) {
      throw new DiskError(
        'corrupt',
        `${this.io.path}: refcount of cluster ${hex(cluster * this.clusterSize)} would become ${value}`,
      );
    }
    const [low, high] = setRefcount(d.data, i, this.io.refcountOrder, value);
    d.low = Math.min(d.low, low);
    d.high = Math.max(d.high, high);
  }

  private async writeDirty(dirty: Map<number, Dirty>): Promise<void> {
    for (const [b, d] of dirty) {
      await writeAt(this.io.handle, d.data.subarray(d.low, d.high), this.blockOffset(b) + d.low);
      this.blocks.set(b, d.data);
    }
  }

  /** The host cluster range `[offset, offset + bytes)` covers, for {@link increment}. */
  rangeOf(offset: number, bytes: number): ClusterRange {
    const start = Math.floor(offset / this.clusterSize);
    return { start, count: roundUp(offset + bytes, this.clusterSize) / this.clusterSize - start };
  }
}
