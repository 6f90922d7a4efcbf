/**
 * The guest-to-host cluster map of a qcow2 image: the L1 table (held in memory), L2 tables
 * (cached, write-through) and the checks made on every entry used.
 */

import type { ImageFile } from './image_file.js';
import { DiskError } from './image.js';
import { hex, readAt, writeAt } from './io.js';
import {
  TableCache,
  UNALLOCATED,
  decodeL2,
  decodePointer,
  encodeOwned,
  type Mapping,
  type MetadataMap,
  type TableContext,
} from './qcow2_table.js';

/** Memory given to cached L2 tables per image. */
const L2_CACHE_BYTES = 32 * 1024 * 1024;

/** A new host cluster for guest cluster `cluster`, to be entered in its L2 table. */
export interface NewEntry {
  cluster: number;
  host: number;
}

/** The L1 and L2 tables of an open image. */
export class ClusterMap {
  /** Entries per L2 table. */
  readonly l2Entries: number;
  private readonly clusterSize: number;
  private readonly cache = new TableCache(L2_CACHE_BYTES);

  constructor(
    private readonly ctx: TableContext,
    private readonly handle: ImageFile,
    private readonly l1: Uint8Array,
    private readonly l1Offset: number,
    /** Metadata clusters; new L2 tables are recorded here. */
    readonly meta: MetadataMap,
    /** Host offsets at or past this point are outside the image; a getter as it grows. */
    private readonly end: () => number,
  ) {
    this.clusterSize = 2 ** ctx.clusterBits;
    this.l2Entries = this.clusterSize / 8;
  }

  /**
   * Reads the L1 table and checks that every L2 table is inside the file and does not overlap
   * other metadata (recording them in `meta`).
   */
  static async load(
    ctx: TableContext,
    handle: ImageFile,
    l1Offset: number,
    l1Size: number,
    meta: MetadataMap,
    end: () => number,
  ): Promise<ClusterMap> {
    const clusterSize = 2 ** ctx.clusterBits;
    const l1 = new Uint8Array(l1Size * 8);
    await readAt(handle, l1, l1Offset);
    if (l1Size > 0) meta.add(l1Offset, Math.ceil(l1.length / clusterSize), 'the L1 table');
    for (let i = 0; i < l1Size; i++) {
      const { offset } = decodePointer(ctx, l1, i, () => `L1 entry ${i}`);
      if (offset === 0) continue;
      if (offset + clusterSize > end()) {
        throw new DiskError(
          'corrupt',
          `${ctx.path}: L2 table ${i} at ${hex(offset)} is beyond the end of the file`,
        );
      }
      meta.add(offset, 1, `L2 table ${i}`);
    }
    return new ClusterMap(ctx, handle, l1, l1Offset, meta, end);
  }

  /** The L1 index of guest cluster `cluster`. */
  l1Index(cluster: number): number {
    return Math.floor(cluster / this.l2Entries);
  }

  /** L1 entry `index`: the L2 table's offset (0 if none) and its copied flag. */
  l1Entry(index: number): { offset: number; copied: boolean } {
    return decodePointer(this.ctx, this.l1, index, () => `L1 entry ${index}`);
  }

  private async table(offset: number): Promise<Uint8Array> {
    const cached = this.cache.get(offset);
    if (cached !== undefined) return cached;
    const table = new Uint8Array(this.clusterSize);
    await readAt(this.handle, table, offset);
    this.cache.set(offset, table);
    return table;
  }

  /** Where guest cluster `cluster` is; throws `corrupt` for a malformed entry. */
  async lookup(cluster: number): Promise<Mapping> {
    const l1Index = this.l1Index(cluster);
    const { offset } = this.l1Entry(l1Index);
    if (offset === 0) return UNALLOCATED;
    const index = cluster % this.l2Entries;
    const what = (): string =>
      `L2 entry ${index} of L2 table ${l1Index} (guest ${hex(cluster * this.clusterSize)})`;
    const m = decodeL2(this.ctx, await this.table(offset), index, what);
    if ((m.kind === 'data' || m.kind === 'zero') && m.host + this.clusterSize > this.end()) {
      throw new DiskError(
        'corrupt',
        `${this.ctx.path}: ${what()} points beyond the end of the file`,
      );
    }
    return m;
  }

  /** A new, empty L2 table holding `entries` (all in the range of L1 entry `l1Index`). */
  newTable(entries: readonly NewEntry[]): Uint8Array {
    const table = new Uint8Array(this.clusterSize);
    for (const e of entries) encodeOwned(table, e.cluster % this.l2Entries, e.host);
    return table;
  }

  /**
   * Points guest clusters at new host clusters in their existing L2 tables (write-through,
   * only the changed range of each table is written).
   */
  async setEntries(entries: readonly NewEntry[]): Promise<void> {
    const byTable = new Map<number, NewEntry[]>();
    for (const e of entries) {
      const l1Index = this.l1Index(e.cluster);
      byTable.set(l1Index, [...(byTable.get(l1Index) ?? []), e]);
    }
    for (const [l1Index, list] of byTable) {
      const offset = this.l1Entry(l1Index).offset;
      if (offset === 0) throw new Error(`L1 entry ${l1Index} has no L2 table`);
      const table = (await this.table(offset)).slice();
      const [low, high] = span(list.map((e) => e.cluster % this.l2Entries));
      for (const e of list) encodeOwned(table, e.cluster % this.l2Entries, e.host);
      await writeAt(this.handle, table.subarray(low, high), offset + low);
      this.cache.set(offset, table);
    }
  }

  /**
   * Enters new L2 tables (written, with their refcounts) in the L1 table, write-through, and
   * records them as metadata.
   */
  async addTables(
    tables: ReadonlyMap<number, { offset: number; table: Uint8Array }>,
  ): Promise<void> {
    if (tables.size === 0) return;
    const l1 = this.l1.slice();
    const [low, high] = span([...tables.keys()]);
    for (const [l1Index, { offset }] of tables) encodeOwned(l1, l1Index, offset);
    await writeAt(this.handle, l1.subarray(low, high), this.l1Offset + low);
    this.l1.set(l1);
    for (const [l1Index, { offset, table }] of tables) {
      this.meta.add(offset, 1, `L2 table ${l1Index}`);
      this.cache.set(offset, table);
    }
  }
}

/** The byte range of a table that entries `indexes` cover. */
function span(indexes: readonly number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const i of indexes) {
    low = Math.min(low, i);
    high = Math.max(high, i);
  }
  return [low * 8, high * 8 + 8];
}
