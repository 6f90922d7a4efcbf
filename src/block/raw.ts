/**
 * Raw images (vmd's vioraw.c): the virtual disk is the file, byte for byte. The size is the
 * file's size when it is opened; writes never grow it.
 */

import { unlink } from 'node:fs/promises';
import { DiskError, checkRange, type DiskImage, type OpenOptions } from './image.js';
import { openPath, type ImageFile } from './image_file.js';
import { createExclusive, readAt, writeAt } from './io.js';
import { lockFile } from '../sys/flock.js';

/** A raw disk image over an open file. */
export class RawImage implements DiskImage {
  readonly format = 'raw';
  readonly path: string;
  readonly size: number;
  readonly readOnly: boolean;
  private readonly handle: ImageFile;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(path: string, handle: ImageFile, size: number, readOnly: boolean) {
    this.path = path;
    this.handle = handle;
    this.size = size;
    this.readOnly = readOnly;
  }

  /** Opens the raw image at `path`; its virtual size is the file's size. */
  static async open(path: string, options: OpenOptions = {}): Promise<RawImage> {
    const readOnly = options.readOnly ?? false;
    const handle = await (options.openFile ?? openPath)(path, readOnly);
    try {
      // One writer or many readers per image, as vmd opens disks (O_EXLOCK / shared).
      lockFile(handle.fd, readOnly ? 'shared' : 'exclusive', path);
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw new DiskError('invalid', `${path}: not a regular file`);
      }
      return new RawImage(path, handle, stat.size, readOnly);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Wraps a file handle the caller opened (vmd's parent opens disks and passes them on). The
   * image owns the handle from now on: {@link close} closes it.
   */
  static fromHandle(path: string, handle: ImageFile, size: number, readOnly: boolean): RawImage {
    return new RawImage(path, handle, size, readOnly);
  }

  read(offset: number, buffer: Uint8Array): Promise<void> {
    return this.track(async () => {
      this.checkOpen();
      checkRange(this.path, this.size, offset, buffer.length);
      const got = await readAt(this.handle, buffer, offset);
      // A file shrunk behind our back reads as zeros past its end.
      buffer.fill(0, got);
    });
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    return this.track(async () => {
      this.checkOpen();
      if (this.readOnly) throw new DiskError('read-only', `${this.path}: image is read-only`);
      checkRange(this.path, this.size, offset, data.length);
      await writeAt(this.handle, data, offset);
    });
  }

  flush(): Promise<void> {
    return this.track(async () => {
      this.checkOpen();
      if (!this.readOnly) await this.handle.datasync();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    try {
      if (!this.readOnly) await this.handle.datasync();
    } finally {
      await this.handle.close();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new DiskError('closed', `${this.path}: image is closed`);
  }

  private track(fn: () => Promise<void>): Promise<void> {
    const p = fn();
    this.inFlight.add(p);
    const forget = (): void => {
      this.inFlight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }
}

/**
 * Creates a raw image of `size` bytes as a sparse file (no data blocks are allocated).
 * Refuses to replace an existing file with an `exists` {@link DiskError}.
 */
export async function createRaw(path: string, size: number): Promise<void> {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new DiskError('invalid', `${path}: invalid size ${size}`);
  }
  const handle = await createExclusive(path);
  try {
    await handle.truncate(size);
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
}
