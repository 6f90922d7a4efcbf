/**
 * The seam between a virtual disk and the file that holds it. Every image format (raw, qcow2)
 * implements {@link DiskImage}: a byte-addressed, fixed-size virtual disk with asynchronous
 * reads and writes. Devices address it in their own units (virtio-blk in 512-byte sectors,
 * {@link SECTOR_SIZE}); the image checks only that a request lies inside the disk.
 */

import type { FileOpener } from './image_file.js';

/** The unit virtio-blk and the BIOS address a disk in. */
export const SECTOR_SIZE = 512;

/** The image formats vmd knows, as the `raw:`/`qcow2:` prefixes and vm.conf's `format` name them. */
export type DiskFormat = 'raw' | 'qcow2';

/**
 * What went wrong, for callers that must react differently (a device turns `out-of-range`
 * into an I/O error status, the daemon reports `exists` to vmctl):
 * - `out-of-range`: a request reaches past the end of the virtual disk, or a negative offset;
 * - `read-only`: a write to an image opened read-only (or that may not be written);
 * - `closed`: a request after {@link DiskImage.close};
 * - `corrupt`: the image's own structures are inconsistent; nothing was changed;
 * - `unsupported`: a valid image that uses a feature this implementation does not have;
 * - `exists`: creating an image over an existing file;
 * - `invalid`: a bad argument (a size of zero, a base image that cannot be used).
 */
export type DiskErrorCode =
  'out-of-range' | 'read-only' | 'closed' | 'corrupt' | 'unsupported' | 'exists' | 'invalid';

/** An error from a disk image, naming the file and what was wrong with the request or image. */
export class DiskError extends Error {
  override name = 'DiskError';
  /** What kind of failure this is. */
  readonly code: DiskErrorCode;

  constructor(code: DiskErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * A virtual disk. Offsets and lengths are bytes; a request may have any alignment and length
 * as long as it lies inside `[0, size)`. Requests may be issued concurrently; each back-end
 * keeps its own structures consistent (qcow2 serialises them).
 */
export interface DiskImage {
  /** The image format. */
  readonly format: DiskFormat;
  /** The file the image was opened from, as given (for messages). */
  readonly path: string;
  /** The virtual size in bytes, as the guest sees it. */
  readonly size: number;
  /** True if writes are refused. */
  readonly readOnly: boolean;
  /** Fills `buffer` with the bytes at `offset` of the virtual disk. */
  read(offset: number, buffer: Uint8Array): Promise<void>;
  /** Writes `data` at `offset` of the virtual disk. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Resolves once every write that resolved before the call is on stable storage. */
  flush(): Promise<void>;
  /** Waits for requests in flight, then closes the file (and any backing images). */
  close(): Promise<void>;
}

/** Options for opening an image. */
export interface OpenOptions {
  /** Open for reading only; writes then fail with a `read-only` {@link DiskError}. */
  readOnly?: boolean;
  /** How the image's files (its backing files too) are opened; by their paths by default. */
  openFile?: FileOpener;
}

/**
 * Throws an `out-of-range` {@link DiskError} unless `[offset, offset + length)` lies inside a
 * disk of `size` bytes and `offset` is a whole number.
 */
export function checkRange(path: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > size) {
    throw new DiskError(
      'out-of-range',
      `${path}: request of ${length} bytes at offset ${offset} is outside the disk (${size} bytes)`,
    );
  }
}
