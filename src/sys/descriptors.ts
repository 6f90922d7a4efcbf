/**
 * File descriptor flags and copies through fcntl(2), which Node does not offer: O_NONBLOCK on a
 * pty's master, FD_CLOEXEC, and duplicates (F_DUPFD_CLOEXEC) of a descriptor a VM process
 * inherited, so that each image opened on it can close its own copy.
 */

import { constants } from 'node:fs';
import { checkCall, lazyBindings, libc } from './libc.js';

/** fcntl(2) commands and flags (`<fcntl.h>`, Linux x86-64). */
const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const F_DUPFD_CLOEXEC = 1030;
const FD_CLOEXEC = 1;

const bindings = lazyBindings(() => ({
  // fcntl(2) is variadic: koffi takes each extra argument as a type and a value.
  fcntl: libc().func('int fcntl(int fd, int cmd, ...)') as (
    fd: number,
    cmd: number,
    ...typeAndValue: ['int', number] | []
  ) => number,
}));

/**
 * Sets O_NONBLOCK on `fd` (fcntl F_SETFL), or clears it with `nonBlocking` false, keeping its
 * other status flags. The flag belongs to the open file description: every descriptor of it,
 * in this process or another that inherited it, sees the change.
 */
export function setNonBlocking(fd: number, nonBlocking = true): void {
  const { fcntl } = bindings();
  const flags = checkCall(fcntl(fd, F_GETFL), 'fcntl');
  const wanted = nonBlocking ? flags | constants.O_NONBLOCK : flags & ~constants.O_NONBLOCK;
  if (wanted !== flags) checkCall(fcntl(fd, F_SETFL, 'int', wanted), 'fcntl');
}

/** Sets FD_CLOEXEC on `fd`, so programs this process starts do not inherit it. */
export function setCloseOnExec(fd: number): void {
  const { fcntl } = bindings();
  const flags = checkCall(fcntl(fd, F_GETFD), 'fcntl');
  if ((flags & FD_CLOEXEC) === 0) checkCall(fcntl(fd, F_SETFD, 'int', flags | FD_CLOEXEC), 'fcntl');
}

/**
 * A new descriptor (close-on-exec) for the open file description of `fd`: it shares the file
 * offset, the status flags and any flock(2) lock with `fd`, and stays valid when `fd` closes.
 */
export function duplicateDescriptor(fd: number): number {
  return checkCall(bindings().fcntl(fd, F_DUPFD_CLOEXEC, 'int', 0), 'fcntl');
}
