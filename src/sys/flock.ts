/**
 * Advisory whole-file locks with flock(2): how a disk image is kept from being used by two
 * VMs at once, as vmd opens the top image of a disk with O_EXLOCK (open(2) on OpenBSD) and
 * its base images shared.
 *
 * A flock lock belongs to the open file description: two `open`s of one file conflict even
 * within one process, descriptors made by dup(2) or inherited across fork share the lock, and
 * the lock goes away when the last of them is closed.
 */

import koffi from 'koffi';
import { constants } from 'node:os';
import { checkCall, errnoException, lazyBindings, libc, type SystemCallError } from './libc.js';

/** flock(2) operations (`<sys/file.h>`). */
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

const bindings = lazyBindings(() => ({
  flock: libc().func('int flock(int fd, int operation)') as (fd: number, op: number) => number,
}));

/**
 * Takes a lock on the file open as `fd` without waiting: `shared` for readers (many may
 * hold it), `exclusive` for a writer (no other lock at all). Taking a lock of the other kind
 * on a descriptor that already holds one converts it.
 *
 * When another open file description holds a conflicting lock, throws an error with code
 * 'EWOULDBLOCK' whose message says the file is in use; other failures throw the
 * `ErrnoException` of flock (EBADF, ENOLCK).
 *
 * @param path The file's name, for the error message and the error's `path` only.
 */
export function lockFile(fd: number, mode: 'shared' | 'exclusive', path?: string): void {
  const { flock } = bindings();
  const operation = (mode === 'shared' ? LOCK_SH : LOCK_EX) | LOCK_NB;
  for (;;) {
    if (flock(fd, operation) === 0) return;
    const errno = koffi.errno();
    // With LOCK_NB the call cannot sleep, but a signal may still interrupt it.
    if (errno === constants.errno.EINTR) continue;
    if (errno === constants.errno.EWOULDBLOCK) throw fileInUse(fd, mode, errno, path);
    throw errnoException('flock', errno, path);
  }
}

/** Releases the lock this open file description holds on `fd`'s file (none: no error). */
export function unlockFile(fd: number): void {
  checkCall(bindings().flock(fd, LOCK_UN), 'flock');
}

function fileInUse(
  fd: number,
  mode: 'shared' | 'exclusive',
  errno: number,
  path: string | undefined,
): SystemCallError {
  const error = errnoException('flock', errno, path);
  const holder = mode === 'shared' ? 'an exclusive' : 'a';
  error.code = 'EWOULDBLOCK';
  error.message =
    `${path ?? `descriptor ${fd}`}: file is in use ` + `(another open of it holds ${holder} lock)`;
  return error;
}
