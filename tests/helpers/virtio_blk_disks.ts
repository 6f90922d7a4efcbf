/**
 * Disks for the virtio_blk test guest (tests/guests/virtio_blk.asm): it checks that sector 1
 * holds {@link sectorOne}, then writes {@link sectorTwo} to sector 2.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createQcow2 } from '../../src/block/qcow2_create.js';

/** The guest's sector size. */
export const SECTOR = 512;
/** The size of the test disks. */
export const DISK_SIZE = 1024 * 1024;
const EXPECT = 0x0123456789abcdefn;

/** Sector 1 as the guest expects it: EXPECT, then a pattern. */
export function sectorOne(): Uint8Array {
  const sector = Uint8Array.from({ length: SECTOR }, (_, i) => (i * 13 + 1) & 0xff);
  new DataView(sector.buffer).setBigUint64(0, EXPECT, true);
  return sector;
}

/** What the guest writes to sector 2: sector 1 with its first quadword inverted. */
export function sectorTwo(): Uint8Array {
  const sector = sectorOne();
  new DataView(sector.buffer).setBigUint64(0, ~EXPECT & 0xffffffffffffffffn, true);
  return sector;
}

/**
 * A raw `base.raw` in `dir` with {@link sectorOne} in sector 1 and a qcow2 `overlay.qcow2` on
 * it: their paths and the base's bytes.
 */
export async function overlayOnBase(
  dir: string,
): Promise<{ base: string; overlay: string; baseBytes: Buffer }> {
  const base = join(dir, 'base.raw');
  const overlay = join(dir, 'overlay.qcow2');
  const baseBytes = Buffer.alloc(DISK_SIZE);
  baseBytes.set(sectorOne(), SECTOR);
  await writeFile(base, baseBytes);
  await createQcow2(overlay, { size: DISK_SIZE, backingFile: 'base.raw', backingFormat: 'raw' });
  return { base, overlay, baseBytes };
}
