/**
 * Small helpers under the image back-ends: positional reads and writes that loop over short
 * transfers, and a lock that runs asynchronous critical sections one at a time.
 */

import { open, type FileHandle } from 'node:fs/promises';
import type { ImageFile } from './image_file.js';
import { DiskError } from './image.js';

/**
 * Reads into all of `buffer` from `position`, looping over short reads. Bytes past the end of
 * the file are left as they are; returns how many bytes were read.
 */
export async function readAt(
  handle: ImageFile,
  buffer: Uint8Array,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await handle.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `data` at `position`, looping over short writes. */
export async function writeAt(
  handle: ImageFile,
  data: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Runs asynchronous critical sections one after the other, in the order they were queued. */
export class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every section queued before it has settled; resolves with its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** `value` rounded up to a multiple of `unit` (a power of two). */
export function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

/** `value` as hexadecimal with a 0x prefix, for messages about file offsets. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

/** Creates `path` for writing (mode 0600); an existing file is an `exists` DiskError. */
export async function createExclusive(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DiskError('exists', `${path}: file exists`, { cause: err });
    }
    throw err;
  }
}
