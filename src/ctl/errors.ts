/**
 * How vmctl fails: with err(3)'s and errx(3)'s one-line messages headed by the program's name
 * (`vmctl: invalid id: foo`), or with its usage, and exit status 1 (vmctl's main.c). A failure
 * travels as a {@link CtlFailure} holding the exact text for standard error, so that the code
 * that finds the problem decides the words and only the program's entry point exits.
 */

import { getSystemErrorMap } from 'node:util';
import { errnoOf } from '../common/errno.js';
import { resultText } from '../daemon/codes.js';
import { lazyBindings, libc } from '../sys/libc.js';

/** vmctl stops: `text` goes to standard error as it is, then the program exits with `status`. */
export class CtlFailure extends Error {
  override readonly name = 'CtlFailure';

  constructor(
    /** Everything to write to standard error, newlines included. */
    readonly text: string,
    /** The exit status. */
    readonly status = 1,
  ) {
    super(text.trimEnd());
  }
}

/** errx(3): `prog: message`, exit 1. */
export function fatal(prog: string, message: string): CtlFailure {
  return new CtlFailure(`${prog}: ${message}\n`);
}

const bindings = lazyBindings(() => ({
  strerror: libc().func('const char *strerror(int errnum)') as (errnum: number) => string,
}));

/**
 * strerror(3) of the C library: `No such file or directory` for ENOENT. Should the C library
 * be out of reach, libuv's description (capitalised as glibc's are) stands in.
 */
export function strerror(errno: number): string {
  try {
    return bindings().strerror(errno);
  } catch {
    const text = getSystemErrorMap().get(-errno)?.[1];
    return text === undefined
      ? `Unknown error ${errno}`
      : text.charAt(0).toUpperCase() + text.slice(1);
  }
}

/**
 * What err(3) appends for `error`: strerror(3) of its errno when it has one, else its
 * message.
 */
export function errorText(error: unknown): string {
  const errno = errnoOf(error);
  if (errno !== null) return strerror(errno);
  return error instanceof Error ? error.message : String(error);
}

/** err(3): `prog: message: strerror`, exit 1. */
export function fatalErrno(prog: string, message: string, error: unknown): CtlFailure {
  return fatal(prog, `${message}: ${errorText(error)}`);
}

/**
 * A result code from vmd in words: vmctl's sentence for vmd's own codes (1001-1007), else
 * strerror(3) of the errno value.
 */
export function resultMessage(code: number): string {
  return code > 1000 && code < 2000 ? resultText(code) : strerror(code);
}
