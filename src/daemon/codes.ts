/**
 * The numbers vmd and vmctl agree on: the result codes of requests (vmd's own 1001–1007, and
 * errno values) and the VM state bits behind vmctl's STATE column.
 *
 * A result is 0 for success, a vmd code, or an errno value of this host (these are Linux's
 * numbers; OpenBSD's differ). vmctl prints vmd's codes in its own words and errno values as
 * strerror(3) does.
 */

/** vmd's error codes for vmctl (vmd.h). */
export const VMD_ERRORS = {
  /** The BIOS image could not be opened. */
  VMD_BIOS_MISSING: 1001,
  /** A disk image could not be opened. */
  VMD_DISK_MISSING: 1002,
  /** A disk image is not a regular file (obsolete in vmd; kept so the number stays taken). */
  VMD_DISK_INVALID: 1003,
  /** `vmctl stop` of a VM that is not running. */
  VMD_VM_STOP_INVALID: 1004,
  /** The ISO image could not be opened. */
  VMD_CDROM_MISSING: 1005,
  /** The ISO image is not a regular file. */
  VMD_CDROM_INVALID: 1006,
  /** `-t` names no VM, or one that may not be a template. */
  VMD_PARENT_INVALID: 1007,
} as const;

/** What vmctl prints for each of vmd's codes (vmctl.c). */
const VMD_ERROR_TEXT: Readonly<Record<number, string>> = {
  [VMD_ERRORS.VMD_BIOS_MISSING]: 'vmm bios firmware file not found.',
  [VMD_ERRORS.VMD_DISK_MISSING]: 'could not open disk image(s)',
  [VMD_ERRORS.VMD_DISK_INVALID]: 'specified disk image(s) are not regular files',
  [VMD_ERRORS.VMD_VM_STOP_INVALID]: 'cannot stop vm that is not running',
  [VMD_ERRORS.VMD_CDROM_MISSING]: 'could not find specified iso image',
  [VMD_ERRORS.VMD_CDROM_INVALID]: 'specified iso image is not a regular file',
  [VMD_ERRORS.VMD_PARENT_INVALID]: 'invalid template',
};

/**
 * The errno values vmd answers with, as Linux numbers them. OpenBSD's EPROCLIM ("an instance
 * of that name exists") has no Linux counterpart; EEXIST takes its place.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ENAMETOOLONG: 36,
  EPROTO: 71,
  EBADMSG: 74,
  EOPNOTSUPP: 95,
  EALREADY: 114,
} as const;

/** strerror(3) of glibc for {@link ERRNO}. */
const STRERROR: Readonly<Record<number, string>> = {
  [ERRNO.EPERM]: 'Operation not permitted',
  [ERRNO.ENOENT]: 'No such file or directory',
  [ERRNO.ESRCH]: 'No such process',
  [ERRNO.EINTR]: 'Interrupted system call',
  [ERRNO.EIO]: 'Input/output error',
  [ERRNO.EBADF]: 'Bad file descriptor',
  [ERRNO.EAGAIN]: 'Resource temporarily unavailable',
  [ERRNO.ENOMEM]: 'Cannot allocate memory',
  [ERRNO.EACCES]: 'Permission denied',
  [ERRNO.EFAULT]: 'Bad address',
  [ERRNO.EBUSY]: 'Device or resource busy',
  [ERRNO.EEXIST]: 'File exists',
  [ERRNO.ENODEV]: 'No such device',
  [ERRNO.EINVAL]: 'Invalid argument',
  [ERRNO.ENOSPC]: 'No space left on device',
  [ERRNO.ENAMETOOLONG]: 'File name too long',
  [ERRNO.EPROTO]: 'Protocol error',
  [ERRNO.EBADMSG]: 'Bad message',
  [ERRNO.EOPNOTSUPP]: 'Operation not supported',
  [ERRNO.EALREADY]: 'Operation already in progress',
};

/** The largest result code: results travel as C `int`s. */
export const MAX_RESULT = 0x7fffffff;

/**
 * A result code in words: vmctl's sentence for a vmd code, strerror(3) for an errno value,
 * `Success` for 0 and `Unknown error N` for anything else (as glibc says it).
 */
export function resultText(code: number): string {
  if (code === 0) return 'Success';
  return VMD_ERROR_TEXT[code] ?? STRERROR[code] ?? `Unknown error ${code}`;
}

/** vmd's `vm_state` bits (vmd.h). */
export const VM_STATE = {
  /** The VM process runs (paused or not). */
  RUNNING: 0x01,
  /** `disable` in vm.conf: not started with vmd. */
  DISABLED: 0x02,
  /** A stop was requested and the guest is shutting down. */
  SHUTDOWN: 0x04,
  /** Paused by `vmctl pause`. */
  PAUSED: 0x10,
  /** Queued for the staggered start. */
  WAITING: 0x20,
} as const;

/** A VM's state as vmctl's STATE column shows it. */
export type VmStateName = 'running' | 'paused' | 'waiting' | 'stopping' | 'stopped';

/** The state names in the order {@link vmStateName} tries them. */
export const VM_STATE_NAMES: readonly VmStateName[] = [
  'paused',
  'waiting',
  'stopping',
  'running',
  'stopped',
];

/**
 * vmctl's `vm_state`: the most significant state among the bits (a paused VM is also
 * running, a stopping one too).
 */
export function vmStateName(bits: number): VmStateName {
  if (bits & VM_STATE.PAUSED) return 'paused';
  if (bits & VM_STATE.WAITING) return 'waiting';
  if (bits & VM_STATE.SHUTDOWN) return 'stopping';
  if (bits & VM_STATE.RUNNING) return 'running';
  return 'stopped';
}
