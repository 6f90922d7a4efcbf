/**
 * A machine's disks: the images named in its configuration, opened (and locked: one writer or
 * many readers per image) before the guest starts, so that a missing file, an unknown format
 * or a damaged image is reported up front, naming the file; closed when the machine stops.
 */

import { log } from '../common/log.js';
import { DiskError, type DiskFormat, type DiskImage } from '../block/image.js';
import { openPath, type FileOpener } from '../block/image_file.js';
import { openImage } from '../block/open.js';
import { MAX_DISKS } from './pc.js';

/** One disk of a machine, as `vmctl start -d` and vm.conf's `disk` give it. */
export interface DiskSpec {
  /** The image file. */
  path: string;
  /** raw or qcow2; found from the file when absent (the qcow2 magic, else raw). */
  format?: DiskFormat;
  /** Offer the disk read-only (VIRTIO_BLK_F_RO) and open the image read-only. */
  readOnly?: boolean;
}

const DISK_FORMATS: readonly string[] = ['raw', 'qcow2'];

/** A disk that could not be opened; the message names the file and says why. */
export class DiskOpenError extends Error {
  override name = 'DiskOpenError';
}

/**
 * Opens every disk in order, its files through `openFile`; on the first failure closes those
 * already open and throws a {@link DiskOpenError}.
 */
export async function openDisks(
  specs: readonly DiskSpec[],
  openFile: FileOpener = openPath,
): Promise<DiskImage[]> {
  if (specs.length > MAX_DISKS) {
    throw new DiskOpenError(`too many disks: ${specs.length} (at most ${MAX_DISKS})`);
  }
  const images: DiskImage[] = [];
  for (const spec of specs) {
    try {
      // The type says raw or qcow2, but a configuration may come from outside TypeScript.
      const format: string | undefined = spec.format;
      if (format !== undefined && !DISK_FORMATS.includes(format)) {
        throw new DiskError('unsupported', `unknown disk format "${format}"`);
      }
      images.push(
        await openImage(spec.path, {
          readOnly: spec.readOnly ?? false,
          openFile,
          ...(spec.format === undefined ? {} : { format: spec.format }),
        }),
      );
    } catch (error) {
      await closeDisks(images);
      throw new DiskOpenError(`disk ${spec.path}: ${reason(spec.path, error)}`, { cause: error });
    }
  }
  return images;
}

/** Closes `images` (waiting for their requests in flight); failures are logged, not thrown. */
export async function closeDisks(images: readonly DiskImage[]): Promise<void> {
  const results = await Promise.allSettled(images.map((image) => image.close()));
  results.forEach((result, i) => {
    if (result.status === 'rejected') {
      log.warn('disk %s: closing failed: %s', images[i]?.path ?? '?', result.reason);
    }
  });
}

// Why opening failed, without repeating the path: DiskError messages start with it, and
// Node's system errors end with it ("ENOENT: no such file or directory, open '/x'").
function reason(path: string, error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let text = error.message;
  if (text.startsWith(`${path}: `)) text = text.slice(path.length + 2);
  const system = /^[A-Z]+: (.*?)(?:, \w+ '.*')?$/.exec(text);
  return system?.[1] ?? text;
}
