/**
 * Helpers for the tests of system calls and consoles: reading a non-blocking descriptor
 * (a pty's master, or a slave opened as a client would) without blocking the test's event
 * loop, and counting this process's open descriptors.
 */

import { constants, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How many times in a row a read may find nothing before a helper gives up: the kernel moves
 * pty data on a work queue, so it arrives a moment after it was written, but not this late.
 */
const EMPTY_READS_ALLOWED = 5000;

/** Opens a pty slave as a client would: read-write, non-blocking, never the controlling tty. */
export function openClient(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
}

/** Reads what `fd` has now (up to `max` bytes); an empty buffer when it has nothing. */
export function readAvailable(fd: number, max = 1 << 16): Buffer {
  const buffer = Buffer.alloc(max);
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, max, null));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return Buffer.alloc(0);
    throw error;
  }
}

/**
 * Reads from the non-blocking `fd` until `done(received)` holds, waiting a millisecond
 * whenever nothing is there; throws, with what came, when nothing more arrives for
 * {@link EMPTY_READS_ALLOWED} tries.
 */
export async function readUntil(
  fd: number,
  done: (received: Buffer) => boolean,
  what: string,
): Promise<Buffer> {
  let received = Buffer.alloc(0);
  let emptyReads = 0;
  while (!done(received)) {
    const chunk = readAvailable(fd);
    if (chunk.length > 0) {
      received = Buffer.concat([received, chunk]);
      emptyReads = 0;
      continue;
    }
    if (++emptyReads > EMPTY_READS_ALLOWED) {
      throw new Error(
        `expected ${what}, but reading stopped after ${received.length} bytes: ` +
          JSON.stringify(received.subarray(-64).toString('latin1')),
      );
    }
    await sleep(1);
  }
  return received;
}

/**
 * Waits until `condition()` holds, looking every millisecond; throws `describe()` when it
 * still does not after {@link EMPTY_READS_ALLOWED} looks.
 */
export async function waitFor(condition: () => boolean, describe: () => string): Promise<void> {
  for (let looks = 0; !condition(); looks++) {
    if (looks > EMPTY_READS_ALLOWED) throw new Error(describe());
    await sleep(1);
  }
}

/** Reads exactly `count` bytes from the non-blocking `fd` (see {@link readUntil}). */
export async function readExactly(fd: number, count: number): Promise<Buffer> {
  const received = await readUntil(fd, (r) => r.length >= count, `${count} bytes`);
  if (received.length > count) {
    throw new Error(`expected ${count} bytes, got ${received.length}`);
  }
  return received;
}

/** How many descriptors this process has open (the entries of /proc/self/fd). */
export function openDescriptorCount(): number {
  // readdir's own descriptor is listed too, the same in every count.
  return readdirSync('/proc/self/fd').length;
}

/** The status flags of `fd` as the kernel reports them (`flags:` of /proc/self/fdinfo, octal). */
export function descriptorFlags(fd: number): number {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  if (match?.[1] === undefined) throw new Error(`no flags in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1], 8);
}

/** O_CLOEXEC as /proc/self/fdinfo shows it (`<asm-generic/fcntl.h>`, 02000000). */
export const FDINFO_CLOEXEC = 0o2000000;
