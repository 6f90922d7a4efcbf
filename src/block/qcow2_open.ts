/**
 * Opening a qcow2 image: the header, the checks that decide whether it may be written, the
 * L1 and refcount tables with their overlap checks, and the backing image. Nothing is written
 * unless every check passed (and then only to clear the autoclear feature bits).
 */

import { dirname, isAbsolute, join } from 'node:path';
import { DiskError, type DiskImage } from './image.js';
import { readAt, roundUp, writeAt } from './io.js';
import { Refcounts } from './qcow2_alloc.js';
import {
  FIELD,
  INCOMPAT,
  MAX_CLUSTER_BITS,
  hasQcow2Magic,
  parseHeader,
  peekClusterBits,
  type Qcow2Header,
} from './qcow2_header.js';
import { ClusterMap } from './qcow2_map.js';
import { MetadataMap, type TableContext } from './qcow2_table.js';
import { RawImage } from './raw.js';
import { lockFile } from '../sys/flock.js';
import { openPath, type FileOpener, type ImageFile } from './image_file.js';

/** The longest backing chain followed (vmd stops at four images; this only stops loops). */
export const MAX_BACKING_DEPTH = 16;

/** Opens a qcow2 backing image read-only at the given chain depth. */
export type OpenQcow2 = (path: string, depth: number) => Promise<DiskImage>;

/** An opened, validated image. */
export interface LoadedImage {
  handle: ImageFile;
  header: Qcow2Header;
  backingFile: string | undefined;
  backing: DiskImage | undefined;
  map: ClusterMap;
  refcounts: Refcounts;
}

/**
 * Opens the image at `path`, validates it and opens its backing chain with `openQcow2` for
 * qcow2 backing images (raw ones directly). On failure everything opened is closed again.
 */
export async function loadImage(
  path: string,
  readOnly: boolean,
  depth: number,
  openFile: FileOpener,
  openQcow2: OpenQcow2,
): Promise<LoadedImage> {
  const handle = await openFile(path, readOnly);
  let backing: DiskImage | undefined;
  try {
    // One writer or many readers per image (backing images are opened read-only, so shared),
    // as vmd opens a disk's top image with O_EXLOCK and its bases shared.
    lockFile(handle.fd, readOnly ? 'shared' : 'exclusive', path);
    const fileSize = (await handle.stat()).size;
    const probe = new Uint8Array(Math.min(fileSize, 4096));
    await readAt(handle, probe, 0);
    let bits = probe.length >= 24 && hasQcow2Magic(probe) ? peekClusterBits(probe) : 0;
    if (bits > MAX_CLUSTER_BITS) bits = 0; // parseHeader reports it
    const first = new Uint8Array(Math.max(probe.length, Math.min(fileSize, 2 ** bits)));
    await readAt(handle, first, 0);
    const parsed = parseHeader(path, first, fileSize);
    const h = parsed.header;
    if (!readOnly) refuseWriting(path, h);
    const ctx: TableContext = { path, clusterBits: h.clusterBits, version: h.version };
    const meta = new MetadataMap(path, h.clusterBits);
    meta.add(0, 1, 'the header');
    const fileEnd = roundUp(fileSize, 2 ** h.clusterBits);
    const refcounts = await Refcounts.load(
      { ...ctx, handle, refcountOrder: h.refcountOrder, meta, barrier: () => handle.datasync() },
      h.refcountTableOffset,
      h.refcountTableClusters,
      fileEnd,
    );
    const end = (): number => refcounts.allocationEnd;
    const map = await ClusterMap.load(ctx, handle, h.l1TableOffset, h.l1Size, meta, end);
    if (parsed.backingFile !== undefined) {
      const name = parsed.backingFile;
      backing = await openBacking(path, name, parsed.backingFormat, depth, openFile, openQcow2);
    }
    if (!readOnly && h.autoclearFeatures !== 0n) {
      await writeAt(handle, new Uint8Array(8), FIELD.autoclearFeatures);
      await handle.datasync();
      h.autoclearFeatures = 0n;
    }
    return { handle, header: h, backingFile: parsed.backingFile, backing, map, refcounts };
  } catch (err) {
    await backing?.close();
    await handle.close();
    throw err;
  }
}

/** Refuses read-write access to images that this implementation must not write. */
function refuseWriting(path: string, h: Qcow2Header): void {
  if ((h.incompatibleFeatures & INCOMPAT.corrupt) !== 0n) {
    throw new DiskError(
      'corrupt',
      `${path}: image is marked corrupt; it may only be opened read-only`,
    );
  }
  if ((h.incompatibleFeatures & INCOMPAT.dirty) !== 0n) {
    throw new DiskError(
      'unsupported',
      `${path}: image is marked dirty (lazy refcounts); repair it with "qemu-img check -r all" before writing`,
    );
  }
  if (h.nbSnapshots > 0) {
    throw new DiskError(
      'unsupported',
      `${path}: images with internal snapshots can only be opened read-only`,
    );
  }
}

/** Opens the backing file `name` of the image at `owner`, read-only. */
async function openBacking(
  owner: string,
  name: string,
  format: string | undefined,
  depth: number,
  openFile: FileOpener,
  openQcow2: OpenQcow2,
): Promise<DiskImage> {
  if (depth + 1 >= MAX_BACKING_DEPTH) {
    throw new DiskError(
      'unsupported',
      `${owner}: backing chain is deeper than ${MAX_BACKING_DEPTH} images`,
    );
  }
  const path = isAbsolute(name) ? name : join(dirname(owner), name);
  try {
    const kind = format ?? ((await startsWithQcow2Magic(path, openFile)) ? 'qcow2' : 'raw');
    if (kind === 'qcow2') return await openQcow2(path, depth + 1);
    if (kind === 'raw') return await RawImage.open(path, { readOnly: true, openFile });
    throw new DiskError('unsupported', `backing file format "${kind}"`);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const code = err instanceof DiskError ? err.code : 'invalid';
    throw new DiskError(code, `${owner}: backing file ${name}: ${why}`, { cause: err });
  }
}

/** True if the file at `path` starts with the qcow2 magic. */
export async function startsWithQcow2Magic(
  path: string,
  openFile: FileOpener = openPath,
): Promise<boolean> {
  const handle = await openFile(path, true);
  try {
    const head = new Uint8Array(4);
    const got = await readAt(handle, head, 0);
    return got === 4 && hasQcow2Magic(head);
  } finally {
    await handle.close();
  }
}
