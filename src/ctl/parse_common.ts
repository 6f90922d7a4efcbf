/**
 * What the parsers of vmctl's commands share: the context they report through, getopt(3)
 * with the command's usage, VM ids and names (parse_vmid) and sizes (parse_size).
 */

import { LIMITS } from '../config/types.js';
import type { VmRef } from '../daemon/messages.js';
import { parseSize } from '../common/size.js';
import { commandUsage, type CommandName } from './commands.js';
import { fatal, strerror } from './errors.js';
import { fmtScaled } from './fmt_scaled.js';
import { getopt, GetoptError, type GetoptResult } from './getopt.js';

/** What parsing needs from its caller. */
export interface ParseContext {
  /** The program's name for messages (`vmctl` or `vmmctl`). */
  prog: string;
  /** Prints a warning (the text without the program's name). */
  warn: (message: string) => void;
  /** The directory relative paths are resolved against; `process.cwd()` by default. */
  cwd?: string;
}

/** getopt(3) for `command`: its diagnostic, then the command's usage. */
export function commandGetopt(
  ctx: ParseContext,
  command: CommandName,
  words: readonly string[],
  spec: string,
): GetoptResult {
  try {
    return getopt(words, spec);
  } catch (error) {
    if (!(error instanceof GetoptError)) throw error;
    throw commandUsage(ctx.prog, command, `${ctx.prog}: ${error.message}\n`);
  }
}

/**
 * parse_vmid: a number (1 to 2^32 - 1) is a vmd id, anything else a name, which must be
 * shorter than 64 characters. Returns null for a word that is neither (vmctl then says
 * `invalid id`); `name too long` is warned as vmctl does.
 */
export function parseVmRef(ctx: ParseContext, word: string): VmRef | null {
  if (word.startsWith('-')) return null;
  if (/^[0-9]+$/.test(word) && Number(word) <= 0xffffffff) {
    // vmd ids start at 1; vmctl's 0 would mean "every VM".
    return Number(word) === 0 ? null : { id: Number(word) };
  }
  if (word.length >= LIMITS.maxNameLength) {
    ctx.warn('name too long');
    return null;
  }
  return { name: word };
}

/**
 * parse_size: a scaled size of at least 1 MiB, rounded down to a whole MiB with a warning;
 * `what` is `memory` (at most 128 GiB) or `disk`.
 */
export function parseMegabytes(ctx: ParseContext, word: string, what: 'memory' | 'disk'): number {
  let bytes: number;
  try {
    bytes = parseSize(word);
  } catch (error) {
    // scan_scaled(3) fails with EINVAL for what is not a size and ERANGE for a huge one.
    const errno = error instanceof RangeError && /too large/.test(error.message) ? 34 : 22;
    throw fatal(ctx.prog, `invalid ${what} size: ${word}: ${strerror(errno)}`);
  }
  const mib = 1024 * 1024;
  if (bytes < mib) throw fatal(ctx.prog, `${what} size must be at least 1MB`);
  if (what === 'memory' && bytes > LIMITS.maxMemory) {
    throw fatal(ctx.prog, `memory size too large (limit is ${fmtScaled(LIMITS.maxMemory)})`);
  }
  const rounded = Math.floor(bytes / mib) * mib;
  if (rounded !== bytes) ctx.warn(`${what} size rounded to ${fmtScaled(rounded)}`);
  return rounded;
}
