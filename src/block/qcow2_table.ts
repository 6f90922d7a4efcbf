/**
 * qcow2 table entries (L1, L2 and refcount table), a bounded cache of loaded tables, and the
 * map of which host clusters hold metadata, used to refuse overlapping tables and writes of
 * guest data over metadata.
 *
 * A 64-bit entry is handled as two 32-bit halves so that offsets stay plain numbers: offsets
 * above 2^53 (8 PiB) are refused as corrupt.
 */

import { DiskError } from './image.js';
import { hex } from './io.js';

/** Bit 63 of L1 and L2 entries ("refcount is exactly one"), in the high half. */
export const COPIED = 0x80000000;
/** Bit 62 of L2 entries (compressed cluster), in the high half. */
export const COMPRESSED = 0x40000000;
/** Bit 0 of a standard L2 entry (the cluster reads as zeros, version 3). */
const ZERO = 1;
const HIGH_OFFSET_MASK = 0x00ffffff;
const LOW_OFFSET_MASK = 0xfffffe00;
const MAX_SAFE_HIGH = 0x001fffff;

/** Where a guest cluster's data is, as an L2 entry says. */
export type Mapping =
  | { readonly kind: 'unallocated' }
  | { readonly kind: 'zero'; readonly host: number; readonly copied: boolean }
  | { readonly kind: 'data'; readonly host: number; readonly copied: boolean }
  | { readonly kind: 'compressed'; readonly host: number; readonly length: number };

/** The unallocated mapping (the cluster reads from the backing file, or as zeros). */
export const UNALLOCATED: Mapping = { kind: 'unallocated' };

function viewOf(table: Uint8Array): DataView {
  return new DataView(table.buffer, table.byteOffset, table.byteLength);
}

function hostOffset(high: number, low: number, what: () => string, path: string): number {
  if ((high & HIGH_OFFSET_MASK) > MAX_SAFE_HIGH) {
    throw new DiskError('corrupt', `${path}: ${what()} points beyond 8 PiB`);
  }
  return (high & HIGH_OFFSET_MASK) * 2 ** 32 + ((low & LOW_OFFSET_MASK) >>> 0);
}

/** Context for decoding entries: the image's path and geometry, for checks and messages. */
export interface TableContext {
  readonly path: string;
  readonly clusterBits: number;
  readonly version: 2 | 3;
}

/**
 * Decodes an L1 or refcount table entry: the cluster-aligned offset of an L2 table or refcount
 * block (0 if none) and the copied flag (always false in refcount tables). Throws `corrupt` for
 * reserved bits or a misaligned offset.
 */
export function decodePointer(
  ctx: TableContext,
  table: Uint8Array,
  index: number,
  what: () => string,
): { offset: number; copied: boolean } {
  const view = viewOf(table);
  const high = view.getUint32(index * 8);
  const low = view.getUint32(index * 8 + 4);
  if ((high & 0x7f000000) !== 0 || (low & 0x1ff) !== 0) {
    throw new DiskError('corrupt', `${ctx.path}: ${what()} has reserved bits set`);
  }
  const offset = hostOffset(high, low, what, ctx.path);
  if (offset % 2 ** ctx.clusterBits !== 0) {
    throw new DiskError('corrupt', `${ctx.path}: ${what()} ${hex(offset)} is not cluster-aligned`);
  }
  return { offset, copied: (high & COPIED) !== 0 };
}

/** Decodes L2 entry `index` of `table`; throws `corrupt` for malformed entries. */
export function decodeL2(
  ctx: TableContext,
  table: Uint8Array,
  index: number,
  what: () => string,
): Mapping {
  const view = viewOf(table);
  const high = view.getUint32(index * 8);
  const low = view.getUint32(index * 8 + 4);
  const bad = (why: string): DiskError => new DiskError('corrupt', `${ctx.path}: ${what()} ${why}`);
  if ((high & COMPRESSED) !== 0) {
    // Compressed: bits 0..x-1 host offset, x..61 additional 512-byte sectors.
    const x = BigInt(70 - ctx.clusterBits);
    const entry = (BigInt(high & 0x3fffffff) << 32n) | BigInt(low);
    const host = entry & ((1n << x) - 1n);
    const sectors = entry >> x;
    if (host > BigInt(Number.MAX_SAFE_INTEGER) || host === 0n) {
      throw bad(`has an invalid compressed offset ${hex(host)}`);
    }
    const start = Number(host);
    const end = (Math.floor(start / 512) + Number(sectors) + 1) * 512;
    return { kind: 'compressed', host: start, length: end - start };
  }
  if ((high & 0x3f000000) !== 0 || (low & 0x1fe) !== 0) throw bad('has reserved bits set');
  const copied = (high & COPIED) !== 0;
  const host = hostOffset(high, low, what, ctx.path);
  const zero = (low & ZERO) !== 0;
  if (zero && ctx.version === 2) throw bad('has the zero flag in a version 2 image');
  if (host % 2 ** ctx.clusterBits !== 0) throw bad(`${hex(host)} is not cluster-aligned`);
  if (zero) return { kind: 'zero', host, copied };
  if (host === 0) {
    if (copied) throw bad('has offset 0 with the copied flag');
    return UNALLOCATED;
  }
  return { kind: 'data', host, copied };
}

/** Sets entry `index` of an L1 or L2 table to `offset` with the copied flag (refcount one). */
export function encodeOwned(table: Uint8Array, index: number, offset: number): void {
  const view = viewOf(table);
  view.setUint32(index * 8, (COPIED | Math.floor(offset / 2 ** 32)) >>> 0);
  view.setUint32(index * 8 + 4, offset % 2 ** 32);
}

/** Sets entry `index` of a refcount table to `offset` (no flags). */
export function encodePointer(table: Uint8Array, index: number, offset: number): void {
  const view = viewOf(table);
  view.setUint32(index * 8, Math.floor(offset / 2 ** 32));
  view.setUint32(index * 8 + 4, offset % 2 ** 32);
}

/** A cache of loaded tables by file offset, dropping the least recently used past a budget. */
export class TableCache {
  private readonly tables = new Map<number, Uint8Array>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** The cached table at `offset`, marked as most recently used. */
  get(offset: number): Uint8Array | undefined {
    const table = this.tables.get(offset);
    if (table !== undefined) {
      this.tables.delete(offset);
      this.tables.set(offset, table);
    }
    return table;
  }

  /** Caches `table` as the table at `offset`. */
  set(offset: number, table: Uint8Array): void {
    const old = this.tables.get(offset);
    if (old !== undefined) this.bytes -= old.length;
    this.tables.delete(offset);
    this.tables.set(offset, table);
    this.bytes += table.length;
    for (const [key, value] of this.tables) {
      if (this.bytes <= this.budget || key === offset) break;
      this.tables.delete(key);
      this.bytes -= value.length;
    }
  }
}

/**
 * Which host clusters hold metadata (the header, the L1 table, the refcount table, refcount
 * blocks and L2 tables), with a name for each, so overlapping tables are found when an image
 * is opened and guest data is never written over metadata.
 */
export class MetadataMap {
  private readonly owners = new Map<number, string>();

  constructor(
    private readonly path: string,
    private readonly clusterBits: number,
  ) {}

  /** Records `count` clusters at `offset` as `what`; throws `corrupt` if any is taken. */
  add(offset: number, count: number, what: string): void {
    const first = offset / 2 ** this.clusterBits;
    for (let c = first; c < first + count; c++) {
      const other = this.owners.get(c);
      if (other !== undefined) {
        throw new DiskError(
          'corrupt',
          `${this.path}: ${what} at ${hex(offset)} overlaps ${other} (cluster ${hex(c * 2 ** this.clusterBits)})`,
        );
      }
    }
    for (let c = first; c < first + count; c++) this.owners.set(c, what);
  }

  /** Forgets `count` clusters at `offset`. */
  remove(offset: number, count: number): void {
    const first = offset / 2 ** this.clusterBits;
    for (let c = first; c < first + count; c++) this.owners.delete(c);
  }

  /** The metadata in the host cluster at `offset`, if any. */
  owner(offset: number): string | undefined {
    return this.owners.get(Math.floor(offset / 2 ** this.clusterBits));
  }
}
