/**
 * `vmctl console` and `vmctl start -c`: the VM's serial console on this terminal, as
 * OpenBSD's vmctl gets it by running `cu -r -l /dev/ttypN -s 115200`. The console is the
 * slave side of the VM process's pty; vmctl opens it in raw mode and copies bytes both ways
 * until the user types `~.` (or `~^D`) at the start of a line, or the VM's side closes.
 *
 * On a terminal, standard input is put in raw mode (so ^C goes to the guest) and restored on
 * every way out: `~.`, the console closing, a signal, an error. Standard input that is not a
 * terminal (a pipe) works the same, without the raw mode; when it ends, the console is still
 * shown until it closes or the user ends vmctl.
 */

import { closeSync, constants, openSync } from 'node:fs';
import { isatty, ReadStream, WriteStream } from 'node:tty';
import type { Readable, Writable } from 'node:stream';
import { setRawMode } from '../sys/pty.js';
import { CtlFailure, fatal, fatalErrno } from './errors.js';

/** `~`: cu's escape character. */
const TILDE = 0x7e;
/** `~.` leaves. */
const DOT = 0x2e;
/** `~^D` leaves too (cu(1)). */
const CONTROL_D = 0x04;

/** ESC, which starts a terminal's control sequence. */
const ESC = 0x1b;
/** `[` after ESC: a control sequence introducer (ECMA-48 5.4). */
const CSI_BRACKET = 0x5b;
/** The final byte of a cursor position report, `ESC [ row ; col R` (ECMA-48 8.3.14 CPR). */
const CPR_FINAL = 0x52;

/**
 * cu(1)'s escapes in what the user types: a `~` at the start of a line is held back; `~.` or
 * `~^D` detaches, `~~` sends one `~`, and `~` before anything else sends both.
 *
 * The terminal's own answers travel with the typing: busybox's shell asks for the cursor
 * position at every prompt (`ESC [ 6n`), and the terminal's report would otherwise end the
 * "start of a line" that the Enter before it began. A cursor position report therefore leaves
 * that state as it was; any other control sequence (a cursor key) ends it.
 */
export class EscapeFilter {
  private lineStart = true;
  private tilde = false;
  /** Where in a control sequence the input is: outside, after ESC, or in a CSI's parameters. */
  private sequence: 'none' | 'esc' | 'csi' = 'none';
  /** `lineStart` before the control sequence began. */
  private lineStartBeforeSequence = false;

  /** The bytes of `chunk` to send to the guest, and whether the user asked to leave. */
  push(chunk: Uint8Array): { send: Uint8Array; detach: boolean } {
    const send: number[] = [];
    for (const byte of chunk) {
      if (this.tilde) {
        this.tilde = false;
        if (byte === DOT || byte === CONTROL_D)
          return { send: Uint8Array.from(send), detach: true };
        if (byte !== TILDE) send.push(TILDE);
        send.push(byte);
      } else if (this.lineStart && byte === TILDE) {
        this.tilde = true;
        continue;
      } else {
        send.push(byte);
      }
      this.lineStart = this.#lineStartAfter(byte);
    }
    return { send: Uint8Array.from(send), detach: false };
  }

  #lineStartAfter(byte: number): boolean {
    switch (this.sequence) {
      case 'esc':
        this.sequence = byte === CSI_BRACKET ? 'csi' : 'none';
        return false;
      case 'csi':
        // ECMA-48 5.4: parameter and intermediate bytes, then a final byte in 0x40-0x7e.
        if (byte < 0x40 || byte > 0x7e) return false;
        this.sequence = 'none';
        return byte === CPR_FINAL && this.lineStartBeforeSequence;
      case 'none':
        if (byte === ESC) {
          this.sequence = 'esc';
          this.lineStartBeforeSequence = this.lineStart;
          return false;
        }
        return byte === 0x0d || byte === 0x0a;
    }
  }
}

/** This process's side of the console. */
export interface ConsoleIo {
  prog: string;
  /** What the user types; put in raw mode when it is a terminal. */
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  /** Where the guest's output goes. */
  stdout: Writable;
  /** Standard error, for cu's `Connected to` and `[EOT]` lines. */
  stderr: (text: string) => void;
}

/** Opens the console's terminal for reading or for writing, as a stream of libuv's tty kind. */
function openTerminal(prog: string, path: string, flags: number): number {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_NOCTTY);
  } catch (error) {
    throw fatalErrno(prog, path, error);
  }
  if (!isatty(fd)) {
    closeSync(fd);
    throw fatal(prog, `${path}: not a terminal`);
  }
  return fd;
}

/**
 * Attaches this terminal to the console at `path` (a pty slave) until the user leaves or the
 * console closes. Resolves with the exit status: 0.
 */
export async function attachConsole(io: ConsoleIo, path: string): Promise<number> {
  const readFd = openTerminal(io.prog, path, constants.O_RDONLY);
  let writeFd = -1;
  try {
    writeFd = openTerminal(io.prog, path, constants.O_WRONLY);
    // cu sets the line raw: the guest sees what was typed, and no echo comes back to it.
    setRawMode(readFd);
  } catch (error) {
    closeSync(readFd);
    if (writeFd >= 0) closeSync(writeFd);
    throw error instanceof Error && !(error instanceof CtlFailure)
      ? fatalErrno(io.prog, path, error)
      : error;
  }
  const fromGuest = new ReadStream(readFd);
  const toGuest = new WriteStream(writeFd);
  const { stdin } = io;
  const rawInput = stdin.isTTY === true && stdin.setRawMode !== undefined;
  const filter = new EscapeFilter();

  return await new Promise<number>((resolve) => {
    let finished = false;
    const restore = (): void => {
      if (rawInput) stdin.setRawMode?.(false);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      finish(1);
      // Die of the signal, as the user asked, now that the terminal is restored.
      process.kill(process.pid, signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const finish = (status: number): void => {
      if (finished) return;
      finished = true;
      restore();
      process.off('exit', restore);
      for (const signal of signals) process.off(signal, onSignal);
      stdin.off('data', onInput);
      stdin.pause();
      fromGuest.destroy();
      toGuest.destroy();
      io.stderr('\r\n[EOT]\r\n');
      resolve(status);
    };
    const onInput = (chunk: Buffer | string): void => {
      const { send, detach } = filter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (send.length > 0) toGuest.write(send);
      if (detach) finish(0);
    };

    process.on('exit', restore);
    for (const signal of signals) process.on(signal, onSignal);
    fromGuest.on('data', (chunk: Buffer) => io.stdout.write(chunk));
    // The VM's side closed (the VM stopped): reading the slave fails with EIO or ends.
    fromGuest.on('error', () => {
      finish(0);
    });
    fromGuest.on('end', () => {
      finish(0);
    });
    toGuest.on('error', () => {
      finish(0);
    });
    io.stderr(`Connected to ${path} (speed 115200)\r\n`);
    if (rawInput) stdin.setRawMode?.(true);
    stdin.on('data', onInput);
    stdin.resume();
  });
}
