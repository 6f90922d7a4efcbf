/**
 * The C library, reached through the koffi FFI, for the system calls Node does not offer
 * (SO_PEERCRED, openpty, flock, termios). The library is loaded on first use, so a process
 * that never needs it (a `vmctl` that only prints usage) never pays for it, and each module
 * binds its functions lazily through {@link lazyBindings}.
 *
 * A failed call becomes the same kind of error `node:fs` throws: an `ErrnoException` with
 * `code` ('EAGAIN'), `errno`, `syscall` and, where a file is involved, `path`.
 */

import koffi, { type LibraryHandle } from 'koffi';
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

let library: LibraryHandle | null = null;

/** The C library of this process (`libc.so.6`, glibc), loaded on the first call. */
export function libc(): LibraryHandle {
  library ??= koffi.load('libc.so.6');
  return library;
}

/**
 * Returns a function that runs `bind` once, on its first call, and afterwards returns what it
 * returned: the way a module declares the C functions it calls without loading the library
 * when it is imported.
 */
export function lazyBindings<T>(bind: () => T): () => T {
  let bound: { value: T } | null = null;
  return () => {
    bound ??= { value: bind() };
    return bound.value;
  };
}

/** errno numbers to their names, for codes libuv does not know (built on first need). */
let errnoNames: Map<number, string> | null = null;

/**
 * The name of an errno value ('EAGAIN' for 11), or `E<number>` for one this host does not
 * name. Where two names share a number (EAGAIN and EWOULDBLOCK, ENOTSUP and EOPNOTSUPP,
 * EDEADLK and EDEADLOCK), the one libuv reports wins, as it does in errors from `node:fs`.
 */
export function errnoName(errno: number): string {
  const known = getSystemErrorMap().get(-errno);
  if (known !== undefined) return known[0];
  if (errnoNames === null) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(constants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  return errnoNames.get(errno) ?? `E${errno}`;
}

const strerror = lazyBindings(
  () => libc().func('const char *strerror(int errnum)') as (errnum: number) => string | null,
);

/** strerror(3) in libuv's lower case, for errno values libuv does not describe. */
function describeErrno(errno: number): string {
  const text = strerror()(errno) ?? `system error ${errno}`;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** What {@link errnoException} builds: Node's own error shape for a failed system call. */
export interface SystemCallError extends NodeJS.ErrnoException {
  code: string;
  errno: number;
  syscall: string;
}

/**
 * The error for a failed C call, shaped as `node:fs` shapes its errors: the message is
 * `CODE: description, syscall 'path'`, `code` is the errno name, and `errno` is the negated
 * errno value (libuv's convention, so `err.errno === -os.constants.errno.EAGAIN`).
 *
 * @param syscall The C function that failed (`flock`, `getsockopt`).
 * @param errno The positive errno value; by default the one koffi saved from the last call
 *   made through it on this thread, so call this right after the failed call.
 * @param path The file the call was about, when there is one.
 */
export function errnoException(
  syscall: string,
  errno: number = koffi.errno(),
  path?: string,
): SystemCallError {
  const code = errnoName(errno);
  const description = getSystemErrorMap().get(-errno)?.[1] ?? describeErrno(errno);
  const where = path === undefined ? syscall : `${syscall} '${path}'`;
  const error = new Error(`${code}: ${description}, ${where}`) as SystemCallError;
  error.code = code;
  error.errno = -errno;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  return error;
}

/**
 * Returns `result` when a C call succeeded, and throws its {@link errnoException} when it
 * returned -1 (the failure value of every system call wrapper in libc).
 */
export function checkCall(result: number, syscall: string, path?: string): number {
  if (result === -1) throw errnoException(syscall, koffi.errno(), path);
  return result;
}
