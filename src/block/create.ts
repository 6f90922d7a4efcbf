/**
 * `vmctl create [-b base] [-s size] disk`: a new raw or qcow2 image, as vmctl makes it.
 *
 * - The size is at least 1 MiB and rounded down to a whole MiB.
 * - raw: a sparse file of that size.
 * - qcow2: version 3, 64 KiB clusters, 16-bit refcounts, no data clusters.
 * - A base image (`-b`) needs qcow2: the new image stores the base's name and format and
 *   starts out reading everything from it. Its size defaults to the base's virtual size and
 *   must equal it when given. A relative base name is relative to the new image's folder (as
 *   the header stores it and as it is opened later).
 * - An existing file is never replaced.
 *
 * `vmctl create -i disk` (copying an existing image's contents into the new one) is not
 * provided here.
 */

import { dirname, isAbsolute, join } from 'node:path';
import { DiskError, type DiskFormat } from './image.js';
import { openImage } from './open.js';
import { createQcow2 } from './qcow2_create.js';
import { createRaw } from './raw.js';

/** One mebibyte, vmctl's unit of image sizes. */
const MIB = 1024 * 1024;

/** Options of {@link createImage}. */
export interface CreateOptions {
  /** The new image's format. */
  format: DiskFormat;
  /** Virtual size in bytes; optional with a base image. */
  size?: number;
  /** A base image (qcow2 only); relative names are relative to the new image's folder. */
  base?: string;
}

/** What {@link createImage} made. */
export interface CreatedImage {
  path: string;
  format: DiskFormat;
  /** Virtual size in bytes. */
  size: number;
}

/** Creates a new disk image at `path` as `vmctl create` does. */
export async function createImage(path: string, options: CreateOptions): Promise<CreatedImage> {
  let size: number | undefined;
  if (options.size !== undefined) {
    if (!Number.isSafeInteger(options.size) || options.size < MIB) {
      throw new DiskError('invalid', `${path}: size must be at least 1MB`);
    }
    size = Math.floor(options.size / MIB) * MIB;
  }
  if (options.base === undefined) {
    if (size === undefined) throw new DiskError('invalid', `${path}: missing size`);
    if (options.format === 'raw') await createRaw(path, size);
    else await createQcow2(path, { size });
    return { path, format: options.format, size };
  }
  if (options.format !== 'qcow2') {
    throw new DiskError('invalid', `${path}: a base image needs the qcow2 format`);
  }
  const base = options.base;
  const basePath = isAbsolute(base) ? base : join(dirname(path), base);
  let image;
  try {
    image = await openImage(basePath, { readOnly: true });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DiskError('invalid', `${path}: base image ${base}: ${why}`, { cause: err });
  }
  const baseSize = image.size;
  const baseFormat = image.format;
  await image.close();
  if (size !== undefined && size !== baseSize) {
    throw new DiskError(
      'invalid',
      `${path}: size ${size} does not match the base image's size ${baseSize}`,
    );
  }
  await createQcow2(path, { size: baseSize, backingFile: base, backingFormat: baseFormat });
  return { path, format: 'qcow2', size: baseSize };
}
