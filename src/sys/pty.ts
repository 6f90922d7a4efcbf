/**
 * Pseudo-terminals (pty(7)): a master descriptor the VM process reads and writes, and a slave
 * device (/dev/pts/N) that `vmctl console`, cu(1) or screen(1) opens. Node has no way to make
 * one; glibc's openpty(3) does, through the C library.
 *
 * The slave is put in raw mode (cfmakeraw(3)): bytes pass both ways unchanged, with no echo,
 * no line editing and no CR/LF translation, because the guest's serial line must see exactly
 * what the user typed and the user exactly what the guest sent.
 */

import koffi from 'koffi';
import { closeSync } from 'node:fs';
import { setCloseOnExec, setNonBlocking } from './descriptors.js';
import { checkCall, errnoException, lazyBindings, libc } from './libc.js';

/** A new pseudo-terminal pair. */
export interface Pty {
  /** The master descriptor: non-blocking, close-on-exec. */
  master: number;
  /** The slave descriptor: raw mode, close-on-exec, not this process's controlling tty. */
  slave: number;
  /** The slave's path, e.g. `/dev/pts/7`. */
  path: string;
}

/** tcsetattr(3) `optional_actions`: apply now. */
const TCSANOW = 0;
/** tcflush(3) `queue_selector`: data received but not read. */
const TCIFLUSH = 0;
/**
 * sizeof(struct termios) is 60 on x86-64 glibc (c_cc at 17 with NCCS 32, the speeds at 52 and
 * 56). The buffer handed to tcgetattr is larger so that no libc can write past its end.
 */
const TERMIOS_BUFFER_BYTES = 256;
/** Room for a slave name; Linux's are `/dev/pts/N`. */
const PTS_NAME_BYTES = 128;

type OpenPty = (
  master: Int32Array,
  slave: Int32Array,
  name: null,
  termios: null,
  winsize: null,
) => number;

/** openpty(3) is in libc.so.6 since glibc 2.34 and in libutil.so.1 before. */
function bindOpenPty(): OpenPty {
  const declaration =
    'int openpty(void *amaster, void *aslave, void *name, void *termp, void *winp)';
  try {
    return libc().func(declaration) as OpenPty;
  } catch {
    return koffi.load('libutil.so.1').func(declaration) as OpenPty;
  }
}

const bindings = lazyBindings(() => {
  const lib = libc();
  return {
    openpty: bindOpenPty(),
    ptsnameR: lib.func('int ptsname_r(int fd, void *buf, size_t buflen)') as (
      fd: number,
      buffer: Buffer,
      length: number,
    ) => number,
    tcgetattr: lib.func('int tcgetattr(int fd, void *termios)') as (
      fd: number,
      termios: Buffer,
    ) => number,
    tcsetattr: lib.func('int tcsetattr(int fd, int optional_actions, void *termios)') as (
      fd: number,
      action: number,
      termios: Buffer,
    ) => number,
    cfmakeraw: lib.func('void cfmakeraw(void *termios)') as (termios: Buffer) => void,
    tcflush: lib.func('int tcflush(int fd, int queue_selector)') as (
      fd: number,
      queue: number,
    ) => number,
  };
});

/** Puts the terminal `fd` in raw mode: cfmakeraw(3) on its attributes, applied at once. */
export function setRawMode(fd: number): void {
  const { tcgetattr, tcsetattr, cfmakeraw } = bindings();
  const termios = Buffer.alloc(TERMIOS_BUFFER_BYTES);
  checkCall(tcgetattr(fd, termios), 'tcgetattr');
  cfmakeraw(termios);
  checkCall(tcsetattr(fd, TCSANOW, termios), 'tcsetattr');
}

/**
 * Discards what was written to the terminal `fd` and not read yet (tcflush(3) TCIFLUSH). On a
 * pty's slave that is what the master wrote and no reader has taken.
 */
export function discardUnreadInput(fd: number): void {
  checkCall(bindings().tcflush(fd, TCIFLUSH), 'tcflush');
}

/** The path of the slave of the pty whose master is `master` (ptsname_r(3)). */
export function slavePath(master: number): string {
  const name = Buffer.alloc(PTS_NAME_BYTES);
  // ptsname_r returns the error number itself rather than -1 and errno.
  const error = bindings().ptsnameR(master, name, name.length);
  if (error !== 0) throw errnoException('ptsname_r', error);
  const end = name.indexOf(0);
  return name.toString('utf8', 0, end < 0 ? name.length : end);
}

/**
 * Opens a new pseudo-terminal with openpty(3): the master non-blocking, the slave in raw mode,
 * both close-on-exec. glibc opens the slave with O_NOCTTY, so it never becomes this process's
 * controlling terminal. The caller owns both descriptors (close them with `fs.closeSync`).
 */
export function openPty(): Pty {
  const { openpty } = bindings();
  const master = new Int32Array(1);
  const slave = new Int32Array(1);
  checkCall(openpty(master, slave, null, null, null), 'openpty');
  const pty = { master: master[0] ?? -1, slave: slave[0] ?? -1 };
  try {
    setCloseOnExec(pty.master);
    setCloseOnExec(pty.slave);
    setNonBlocking(pty.master);
    setRawMode(pty.slave);
    return { ...pty, path: slavePath(pty.master) };
  } catch (error) {
    closeSync(pty.master);
    closeSync(pty.slave);
    throw error;
  }
}
