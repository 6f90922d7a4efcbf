/**
 * The file under an image, and how images open their files. By default an image opens its
 * path; a VM process started by vmd opens nothing itself: vmd's parent opened every file of the
 * VM's disks, backing files included, checked them, and passed the descriptors on, so that a
 * path that changes after vmd's checks cannot change which file the guest gets.
 */

import { close, fdatasync, fstat, read, write, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { duplicateDescriptor } from '../sys/descriptors.js';
import { DiskError } from './image.js';

/** What an image does with its file (a subset of `node:fs/promises`' FileHandle). */
export interface ImageFile {
  /** The descriptor, for flock(2). */
  readonly fd: number;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  write(
    data: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  stat(): Promise<Stats>;
  close(): Promise<void>;
}

/** Opens the image file at `path`, for reading only or for reading and writing. */
export type FileOpener = (path: string, readOnly: boolean) => Promise<ImageFile>;

/** Opens the path itself. */
export const openPath: FileOpener = (path, readOnly) => open(path, readOnly ? 'r' : 'r+');

/** A file this process holds a descriptor of, under the path it was opened by. */
export interface HeldFile {
  /** The path the file was opened by (a backing file's as its overlay names it, resolved). */
  path: string;
  /** The descriptor. */
  fd: number;
  /** True when the descriptor was opened for writing too. */
  writable: boolean;
}

/**
 * An opener that opens only `files`, each as a copy of its descriptor (so that every image
 * closes its own); any other path, or writing through a read-only descriptor, is refused.
 */
export function heldFileOpener(files: readonly HeldFile[]): FileOpener {
  return (path, readOnly) => {
    const held = files.find((file) => file.path === path && (readOnly || file.writable));
    if (held === undefined) {
      const how = readOnly ? 'reading' : 'writing';
      return Promise.reject(new DiskError('invalid', `${path}: not opened for ${how} by vmd`));
    }
    return Promise.resolve(descriptorFile(duplicateDescriptor(held.fd)));
  };
}

/** An {@link ImageFile} over the descriptor `fd`, which it owns: `close()` closes it. */
export function descriptorFile(fd: number): ImageFile {
  return {
    fd,
    read: (buffer, offset, length, position) =>
      new Promise((resolve, reject) => {
        read(fd, buffer, offset, length, position, (error, bytesRead) => {
          if (error === null) resolve({ bytesRead });
          else reject(error);
        });
      }),
    write: (data, offset, length, position) =>
      new Promise((resolve, reject) => {
        write(fd, data, offset, length, position, (error, bytesWritten) => {
          if (error === null) resolve({ bytesWritten });
          else reject(error);
        });
      }),
    datasync: () =>
      settle((done) => {
        fdatasync(fd, done);
      }),
    stat: () =>
      new Promise((resolve, reject) => {
        fstat(fd, (error, stats) => {
          if (error === null) resolve(stats);
          else reject(error);
        });
      }),
    close: () =>
      settle((done) => {
        close(fd, done);
      }),
  };
}

function settle(call: (done: (error: NodeJS.ErrnoException | null) => void) => void) {
  return new Promise<void>((resolve, reject) => {
    call((error) => {
      if (error === null) resolve();
      else reject(error);
    });
  });
}
