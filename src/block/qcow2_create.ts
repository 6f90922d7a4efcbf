/**
 * Writing a new, empty qcow2 image, laid out as vmctl and qemu-img do: the header in cluster
 * 0 (with the backing file name after the header extensions), then the refcount table, the
 * refcount blocks and the L1 table. Every cluster of that metadata has refcount one; nothing
 * else is allocated.
 */

import { unlink } from 'node:fs/promises';
import { DiskError } from './image.js';
import { createExclusive, writeAt } from './io.js';
import { setRefcount } from './qcow2_alloc.js';
import { MAX_CLUSTER_BITS, MAX_L1_BYTES, MIN_CLUSTER_BITS, encodeHeader } from './qcow2_header.js';
import { encodePointer } from './qcow2_table.js';

/** Parameters of a new qcow2 image. */
export interface Qcow2CreateOptions {
  /** Virtual size in bytes. */
  size: number;
  /** log2 of the cluster size; 16 (64 KiB) by default, as vmctl and qemu-img. */
  clusterBits?: number;
  /** log2 of the refcount width in bits; 4 (16 bits) by default. */
  refcountOrder?: number;
  /** The backing file name to store (relative names are relative to the image's folder). */
  backingFile?: string;
  /** The backing file's format, stored in the backing format header extension. */
  backingFormat?: string;
}

/** Where the metadata of a new image goes, in clusters. */
interface Layout {
  l1Size: number;
  tableClusters: number;
  blocks: number;
  l1Clusters: number;
  total: number;
}

function layout(size: number, clusterBits: number, refcountOrder: number): Layout {
  const clusterSize = 2 ** clusterBits;
  const l1Size = Math.ceil(size / (clusterSize * (clusterSize / 8)));
  const l1Clusters = Math.max(1, Math.ceil((l1Size * 8) / clusterSize));
  const perBlock = (clusterSize * 8) >> refcountOrder;
  let tableClusters = 1;
  let blocks = 1;
  for (;;) {
    const total = 1 + tableClusters + blocks + l1Clusters;
    const needBlocks = Math.ceil(total / perBlock);
    const needTable = Math.ceil((needBlocks * 8) / clusterSize);
    if (needBlocks <= blocks && needTable <= tableClusters) {
      return { l1Size, tableClusters, blocks, l1Clusters, total };
    }
    blocks = Math.max(blocks, needBlocks);
    tableClusters = Math.max(tableClusters, needTable);
  }
}

/**
 * Creates an empty qcow2 version 3 image at `path`. Refuses to replace an existing file
 * (`exists`); removes the partial file if writing fails.
 */
export async function createQcow2(path: string, options: Qcow2CreateOptions): Promise<void> {
  const clusterBits = options.clusterBits ?? 16;
  const refcountOrder = options.refcountOrder ?? 4;
  const { size } = options;
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new DiskError('invalid', `${path}: invalid size ${size}`);
  }
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new DiskError('invalid', `${path}: cluster size 2^${clusterBits} is not supported`);
  }
  if (!Number.isInteger(refcountOrder) || refcountOrder < 0 || refcountOrder > 6) {
    throw new DiskError('invalid', `${path}: refcount order ${refcountOrder} is not supported`);
  }
  const clusterSize = 2 ** clusterBits;
  const l = layout(size, clusterBits, refcountOrder);
  if (l.l1Size * 8 > MAX_L1_BYTES) {
    throw new DiskError(
      'invalid',
      `${path}: size ${size} is too large for ${clusterSize}-byte clusters`,
    );
  }
  const tableOffset = clusterSize;
  const blocksOffset = tableOffset + l.tableClusters * clusterSize;
  const l1Offset = blocksOffset + l.blocks * clusterSize;
  const header = encodeHeader({
    clusterBits,
    size,
    l1Size: l.l1Size,
    l1TableOffset: l1Offset,
    refcountTableOffset: tableOffset,
    refcountTableClusters: l.tableClusters,
    refcountOrder,
    ...(options.backingFile === undefined ? {} : { backingFile: options.backingFile }),
    ...(options.backingFormat === undefined ? {} : { backingFormat: options.backingFormat }),
  });
  const table = new Uint8Array(l.tableClusters * clusterSize);
  const blocks = new Uint8Array(l.blocks * clusterSize);
  for (let b = 0; b < l.blocks; b++) encodePointer(table, b, blocksOffset + b * clusterSize);
  for (let c = 0; c < l.total; c++) setRefcount(blocks, c, refcountOrder, 1);

  const handle = await createExclusive(path);
  try {
    await writeAt(handle, header, 0);
    await writeAt(handle, table, tableOffset);
    await writeAt(handle, blocks, blocksOffset);
    await handle.truncate(l.total * clusterSize);
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
}
