/**
 * qcow2 images (QEMU's docs/interop/qcow2.txt, versions 2 and 3), as vmd's vioqcow2.c reads
 * and writes them, with backing files and copy-on-write.
 *
 * Reading: guest clusters are found through the L1 and L2 tables; an unallocated cluster reads
 * from the backing image (zeros past its end), or as zeros without one; zero clusters (v3)
 * read as zeros; zlib-compressed clusters are decompressed.
 *
 * Writing: a cluster whose refcount is one is written in place. Any other cluster gets a new
 * host cluster at the end of the file, filled with what the guest saw there (backing data or
 * zeros) and the new bytes; new L2 tables are allocated the same way. The order on disk, with
 * an fdatasync between steps, is:
 * 1. the new clusters' contents: guest data and new L2 tables (already holding their entries);
 * 2. their refcounts (which may allocate refcount blocks and move the refcount table, see
 *    qcow2_alloc.ts);
 * 3. the pointers to them: entries of existing L2 tables, then L1 entries for new L2 tables.
 * Nothing points at a cluster before its contents and refcount are on disk, so a crash leaves
 * at worst leaked clusters, which `qemu-img check` reports as leaks, not corruption. Refcounts
 * are always exact: the lazy refcounts feature is never used and the dirty bit never set.
 *
 * Not supported, each refused with a clear {@link DiskError}: encryption, external data files,
 * extended L2 entries, zstd compression, unknown incompatible features; writing to compressed
 * clusters or to clusters shared with internal snapshots (images with snapshots open read-only
 * only); writing to images marked dirty (repair with `qemu-img check -r all`) or corrupt.
 * Freed clusters are not reused, and images are never resized.
 */

import { promisify } from 'node:util';
import { constants as zlib, inflateRaw } from 'node:zlib';
import { DiskError, checkRange, type DiskImage, type OpenOptions } from './image.js';
import { AsyncLock, hex, readAt, writeAt } from './io.js';
import type { ClusterRange, Refcounts } from './qcow2_alloc.js';
import type { Qcow2Header } from './qcow2_header.js';
import type { ClusterMap, NewEntry } from './qcow2_map.js';
import { openPath, type FileOpener, type ImageFile } from './image_file.js';
import { loadImage } from './qcow2_open.js';

export { MAX_BACKING_DEPTH, startsWithQcow2Magic } from './qcow2_open.js';

const inflate = promisify(inflateRaw);

/** How one cluster-sized piece of a write is done. */
interface Piece {
  /** Guest cluster index. */
  cluster: number;
  /** Offset of the piece inside the cluster. */
  within: number;
  length: number;
  /** Offset of the piece in the request's data. */
  at: number;
  action: 'in-place' | 'rewrite' | 'allocate';
  /** Host cluster for in-place writes and rewrites. */
  host: number;
  /** True if the cluster reads as zeros rather than from the backing image. */
  zero: boolean;
}

/** A qcow2 disk image. */
export class Qcow2Image implements DiskImage {
  readonly format = 'qcow2';
  readonly path: string;
  readonly size: number;
  readonly readOnly: boolean;
  /** The backing image, opened read-only, if the header names one. */
  readonly backing: DiskImage | undefined;
  /** The backing file name as the header stores it. */
  readonly backingFile: string | undefined;
  /**
   * The header as parsed when the image was opened (the refcount table fields change on disk
   * as the image grows; reopen to see them).
   */
  readonly header: Readonly<Qcow2Header>;

  private readonly handle: ImageFile;
  private readonly clusterSize: number;
  private readonly map: ClusterMap;
  private readonly refcounts: Refcounts;
  private readonly lock = new AsyncLock();
  private lastCompressed: { host: number; data: Uint8Array } | undefined;
  private closed = false;
  /** Set when a write failed part-way through changing metadata: no more writes. */
  private broken: unknown;

  private constructor(
    path: string,
    readOnly: boolean,
    loaded: Awaited<ReturnType<typeof loadImage>>,
  ) {
    this.path = path;
    this.readOnly = readOnly;
    this.handle = loaded.handle;
    this.header = loaded.header;
    this.size = loaded.header.size;
    this.map = loaded.map;
    this.refcounts = loaded.refcounts;
    this.backing = loaded.backing;
    this.backingFile = loaded.backingFile;
    this.clusterSize = 2 ** loaded.header.clusterBits;
  }

  /**
   * Opens and validates the qcow2 image at `path` and its backing chain (read-only). Refuses
   * malformed images (`corrupt`) and features this implementation lacks (`unsupported`)
   * without writing anything. Opening read-write clears the autoclear feature bits, as the
   * format requires of a writer that does not maintain them.
   */
  static async open(path: string, options: OpenOptions = {}): Promise<Qcow2Image> {
    return Qcow2Image.openAt(path, options.readOnly ?? false, 0, options.openFile ?? openPath);
  }

  private static async openAt(
    path: string,
    readOnly: boolean,
    depth: number,
    openFile: FileOpener,
  ): Promise<Qcow2Image> {
    const loaded = await loadImage(path, readOnly, depth, openFile, (p, d) =>
      Qcow2Image.openAt(p, true, d, openFile),
    );
    return new Qcow2Image(path, readOnly, loaded);
  }

  async read(offset: number, buffer: Uint8Array): Promise<void> {
    this.checkOpen();
    checkRange(this.path, this.size, offset, buffer.length);
    await this.lock.run(() => this.readLocked(offset, buffer));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkOpen();
    if (this.readOnly) throw new DiskError('read-only', `${this.path}: image is read-only`);
    checkRange(this.path, this.size, offset, data.length);
    await this.lock.run(() => this.writeLocked(offset, data));
  }

  async flush(): Promise<void> {
    this.checkOpen();
    await this.lock.run(async () => {
      if (!this.readOnly) await this.handle.datasync();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lock.run(async () => {
      try {
        if (!this.readOnly && this.broken === undefined) await this.handle.datasync();
      } finally {
        await this.handle.close().finally(() => this.backing?.close());
      }
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new DiskError('closed', `${this.path}: image is closed`);
  }

  private async readLocked(offset: number, buffer: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    let pos = 0;
    while (pos < buffer.length) {
      const guest = offset + pos;
      const first = Math.floor(guest / cs);
      const m = await this.map.lookup(first);
      let length = Math.min(cs - (guest % cs), buffer.length - pos);
      // Extend over following clusters that map the same way, for one large transfer.
      for (let next = first + 1; pos + length < buffer.length && m.kind !== 'compressed'; next++) {
        const n = await this.map.lookup(next);
        if (n.kind !== m.kind) break;
        if (m.kind === 'data' && n.kind === 'data' && n.host !== m.host + (next - first) * cs)
          break;
        length += Math.min(cs, buffer.length - pos - length);
      }
      const target = buffer.subarray(pos, pos + length);
      switch (m.kind) {
        case 'data': {
          const got = await readAt(this.handle, target, m.host + (guest % cs));
          target.fill(0, got);
          break;
        }
        case 'zero':
          target.fill(0);
          break;
        case 'unallocated':
          await this.readBelow(guest, target);
          break;
        case 'compressed': {
          const data = await this.decompress(m.host, m.length);
          target.set(data.subarray(guest % cs, (guest % cs) + length));
          break;
        }
      }
      pos += length;
    }
  }

  /** Reads what lies below this image at `guest`: the backing image, or zeros. */
  private async readBelow(guest: number, target: Uint8Array): Promise<void> {
    const limit = Math.min(this.backing?.size ?? 0, this.size);
    const n = Math.max(0, Math.min(target.length, limit - guest));
    if (n > 0 && this.backing !== undefined) await this.backing.read(guest, target.subarray(0, n));
    target.fill(0, n);
  }

  private async decompress(host: number, length: number): Promise<Uint8Array> {
    if (this.lastCompressed?.host === host) return this.lastCompressed.data;
    const input = new Uint8Array(length);
    const got = await readAt(this.handle, input, host);
    let data: Uint8Array;
    try {
      data = await inflate(input.subarray(0, got), { finishFlush: zlib.Z_SYNC_FLUSH });
    } catch (err) {
      throw new DiskError(
        'corrupt',
        `${this.path}: compressed cluster at ${hex(host)} does not inflate`,
        {
          cause: err,
        },
      );
    }
    if (data.length < this.clusterSize) {
      throw new DiskError(
        'corrupt',
        `${this.path}: compressed cluster at ${hex(host)} inflates to ${data.length} bytes`,
      );
    }
    this.lastCompressed = { host, data: data.subarray(0, this.clusterSize) };
    return this.lastCompressed.data;
  }

  /** Refuses to write a cluster (or L2 table) that is shared, i.e. whose refcount is not one. */
  private async checkOwned(host: number, copied: boolean, what: () => string): Promise<void> {
    if (copied) return;
    const refcount = await this.refcounts.get(host / this.clusterSize);
    if (refcount !== 1) {
      throw new DiskError(
        'unsupported',
        `${this.path}: ${what()} at ${hex(host)} has refcount ${refcount}; writing shared clusters is not supported`,
      );
    }
  }

  /** Splits a write into cluster pieces and decides how each is done; writes nothing. */
  private async plan(offset: number, length: number): Promise<Piece[]> {
    const cs = this.clusterSize;
    const pieces: Piece[] = [];
    for (let at = 0; at < length;) {
      const guest = offset + at;
      const cluster = Math.floor(guest / cs);
      const within = guest % cs;
      const n = Math.min(cs - within, length - at);
      const l1Index = this.map.l1Index(cluster);
      const l1 = this.map.l1Entry(l1Index);
      if (l1.offset !== 0) await this.checkOwned(l1.offset, l1.copied, () => `L2 table ${l1Index}`);
      const m = await this.map.lookup(cluster);
      const where = (): string => `guest cluster ${hex(cluster * cs)}`;
      if (m.kind === 'compressed') {
        throw new DiskError(
          'unsupported',
          `${this.path}: writing to compressed clusters is not supported (${where()})`,
        );
      }
      const piece: Piece = {
        cluster,
        within,
        length: n,
        at,
        action: 'allocate',
        host: 0,
        zero: false,
      };
      if (m.kind === 'zero') piece.zero = true;
      if ((m.kind === 'data' || m.kind === 'zero') && m.host !== 0) {
        await this.checkOwned(m.host, m.copied, where);
        const owner = this.map.meta.owner(m.host);
        if (owner !== undefined) {
          throw new DiskError(
            'corrupt',
            `${this.path}: ${where()} at ${hex(m.host)} overlaps ${owner}`,
          );
        }
        piece.action = m.kind === 'data' ? 'in-place' : 'rewrite';
        piece.host = m.host;
      }
      pieces.push(piece);
      at += n;
    }
    return pieces;
  }

  private async writeLocked(offset: number, data: Uint8Array): Promise<void> {
    if (this.broken !== undefined) {
      throw new DiskError('read-only', `${this.path}: an earlier write failed; reopen to write`, {
        cause: this.broken,
      });
    }
    const pieces = await this.plan(offset, data.length);
    // In-place writes need no metadata; runs of adjacent host clusters go out as one write.
    let run: Piece[] = [];
    const flushRun = async (): Promise<void> => {
      const [head] = run;
      if (head === undefined) return;
      const bytes = run.reduce((sum, p) => sum + p.length, 0);
      await writeAt(this.handle, data.subarray(head.at, head.at + bytes), head.host + head.within);
      run = [];
    };
    for (const p of pieces) {
      if (p.action !== 'in-place') continue;
      const last = run.at(-1);
      if (
        last !== undefined &&
        (p.host !== last.host + this.clusterSize || p.at !== last.at + last.length)
      ) {
        await flushRun();
      }
      run.push(p);
    }
    await flushRun();
    const fresh = pieces.filter((p) => p.action !== 'in-place');
    if (fresh.length === 0) return;
    try {
      await this.allocate(fresh, data);
    } catch (err) {
      this.broken = err;
      throw err;
    }
  }

  /** Writes the pieces that need a new host cluster or a rewritten L2 entry (module order). */
  private async allocate(pieces: Piece[], data: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const allocs = pieces.filter((p) => p.action === 'allocate');
    const newTables = new Map<number, { offset: number; table: Uint8Array }>();
    const newTableEntries = new Map<number, NewEntry[]>();
    for (const p of allocs) {
      const l1Index = this.map.l1Index(p.cluster);
      if (this.map.l1Entry(l1Index).offset === 0 && !newTableEntries.has(l1Index)) {
        newTableEntries.set(l1Index, []);
      }
    }
    for (const l1Index of newTableEntries.keys()) {
      newTables.set(l1Index, { offset: await this.refcounts.reserve(1), table: new Uint8Array(0) });
    }
    const start = allocs.length > 0 ? await this.refcounts.reserve(allocs.length) : 0;
    // 1. Contents of the new clusters, and new L2 tables already pointing at them.
    const contents = new Uint8Array(allocs.length * cs);
    for (const [k, p] of allocs.entries()) {
      const cluster = contents.subarray(k * cs, (k + 1) * cs);
      if (p.length < cs && !p.zero) await this.readBelow(p.cluster * cs, cluster);
      cluster.set(data.subarray(p.at, p.at + p.length), p.within);
      p.host = start + k * cs;
      newTableEntries.get(this.map.l1Index(p.cluster))?.push({ cluster: p.cluster, host: p.host });
    }
    if (contents.length > 0) await writeAt(this.handle, contents, start);
    for (const p of pieces) {
      if (p.action !== 'rewrite') continue;
      const cluster = new Uint8Array(cs);
      cluster.set(data.subarray(p.at, p.at + p.length), p.within);
      await writeAt(this.handle, cluster, p.host);
    }
    for (const [l1Index, entry] of newTables) {
      entry.table = this.map.newTable(newTableEntries.get(l1Index) ?? []);
      await writeAt(this.handle, entry.table, entry.offset);
    }
    await this.handle.datasync();
    // 2. Their refcounts.
    const ranges: ClusterRange[] = [...newTables.values()].map(({ offset }) =>
      this.refcounts.rangeOf(offset, cs),
    );
    if (allocs.length > 0) ranges.push(this.refcounts.rangeOf(start, allocs.length * cs));
    if (ranges.length > 0) {
      await this.refcounts.increment(ranges);
      await this.handle.datasync();
    }
    // 3. Pointers: entries in existing L2 tables, then L1 entries for the new tables.
    await this.map.setEntries(
      pieces
        .filter((p) => !newTables.has(this.map.l1Index(p.cluster)))
        .map((p) => ({ cluster: p.cluster, host: p.host })),
    );
    await this.map.addTables(newTables);
  }
}
