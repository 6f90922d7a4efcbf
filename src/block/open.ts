/**
 * Opening a disk image whose format is given or found as vmd finds it: a `raw:` or `qcow2:`
 * prefix on the argument, else the qcow2 magic in the file, else the extension `.qcow2` or
 * `.raw`, else raw.
 */

import { extname } from 'node:path';
import type { DiskFormat, DiskImage, OpenOptions } from './image.js';
import { openPath, type FileOpener } from './image_file.js';
import { Qcow2Image, startsWithQcow2Magic } from './qcow2.js';
import { RawImage } from './raw.js';

/** A disk argument split into its optional format prefix and the path. */
export interface DiskArgument {
  format: DiskFormat | undefined;
  path: string;
}

/** Splits a `raw:` or `qcow2:` prefix off a disk argument (vmctl's `-d`, vm.conf's `disk`). */
export function parseDiskArgument(arg: string): DiskArgument {
  const m = /^(raw|qcow2):(.*)$/.exec(arg);
  if (m === null) return { format: undefined, path: arg };
  return { format: m[1] as DiskFormat, path: m[2] ?? '' };
}

/** The format of the existing image at `path`: the qcow2 magic, else the extension, else raw. */
export async function detectFormat(
  path: string,
  openFile: FileOpener = openPath,
): Promise<DiskFormat> {
  if (await startsWithQcow2Magic(path, openFile)) return 'qcow2';
  return extname(path) === '.qcow2' ? 'qcow2' : 'raw';
}

/** Options of {@link openImage}. */
export interface OpenImageOptions extends OpenOptions {
  /** The format; found with {@link detectFormat} when absent. */
  format?: DiskFormat;
}

/** Opens the image at `path` (backing images of a qcow2 image open read-only). */
export async function openImage(path: string, options: OpenImageOptions = {}): Promise<DiskImage> {
  const format = options.format ?? (await detectFormat(path, options.openFile));
  const opening = { readOnly: options.readOnly ?? false, openFile: options.openFile ?? openPath };
  return format === 'qcow2'
    ? await Qcow2Image.open(path, opening)
    : await RawImage.open(path, opening);
}
