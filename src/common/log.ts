/**
 * Logging, modelled on OpenBSD vmd's log.c: terse text lines on stderr, a verbosity level set
 * by `-v` flags, and no dependency. Under systemd, stderr is the journal and every line carries
 * an sd-daemon(3) priority prefix so journald stores real syslog priorities; in the foreground
 * each line starts with the program name instead, as `vmd -d` prints them.
 *
 * The settings are per JavaScript realm: a worker thread has its own copy and must be given
 * the verbosity by whoever starts it.
 */

import { fstatSync } from 'node:fs';
import { format } from 'node:util';

/** Receives one finished log line, prefix included, without a trailing newline. */
export type LogSink = (line: string) => void;

/** Options of {@link initLog}. */
export interface LogOptions {
  /** Where lines go; stderr by default. Tests pass a function that collects them. */
  sink?: LogSink;
  /**
   * Whether to write sd-daemon priority prefixes instead of the program name. By default they
   * are written when stderr is the journal (see {@link isJournalStream}).
   */
  journal?: boolean;
}

/** Verbosity at which {@link log}.verbose lines are written (`vmd -v`). */
export const VERBOSITY_VERBOSE = 1;
/** Verbosity at which {@link log}.debug lines are written (`vmd -vv`). */
export const VERBOSITY_DEBUG = 2;

// sd-daemon(3) priority prefixes.
const SD_WARNING = '<4>';
const SD_INFO = '<6>';
const SD_DEBUG = '<7>';

function stderrSink(line: string): void {
  process.stderr.write(line + '\n');
}

/**
 * True when `JOURNAL_STREAM` names the file that descriptor `fd` is open on. systemd.exec(5)
 * sets it to the `device:inode` of the journal stream it connected to stdout/stderr; the
 * variable is inherited by children whose stderr may since have been redirected elsewhere
 * (a pipe to the vmd parent, a file), so its mere presence is not proof.
 */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (match === null) return false;
  const [, dev = '', ino = ''] = match;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(dev) && st.ino === BigInt(ino);
  } catch {
    return false;
  }
}

const settings: { name: string; sink: LogSink; journal: boolean; verbosity: number } = {
  name: 'vmd',
  sink: stderrSink,
  journal: isJournalStream(),
  verbosity: 0,
};

/**
 * Names the program or process for line prefixes (`vmd`, `vmctl`, `vm/web1`), like log.c's
 * `log_init` and `log_procinit`, and optionally replaces the sink or forces journal mode.
 * Options not given return to their defaults.
 */
export function initLog(name: string, options: LogOptions = {}): void {
  settings.name = name;
  settings.sink = options.sink ?? stderrSink;
  settings.journal = options.journal ?? isJournalStream();
}

/** Sets the verbosity: 0 writes warnings and info, 1 adds verbose lines, 2 and up add debug. */
export function setVerbosity(level: number): void {
  if (!Number.isInteger(level) || level < 0) {
    throw new RangeError(`log verbosity must be a non-negative integer, got ${level}`);
  }
  settings.verbosity = level;
}

/** The current verbosity (see {@link setVerbosity}). */
export function getVerbosity(): number {
  return settings.verbosity;
}

// An Error argument prints as its message, as log.c's log_warn appends strerror(errno); the
// stack is only worth its lines when debugging.
function renderArg(arg: unknown): unknown {
  if (!(arg instanceof Error)) return arg;
  return settings.verbosity >= VERBOSITY_DEBUG ? (arg.stack ?? arg.message) : arg.message;
}

function emit(priority: string, message: string, args: readonly unknown[]): void {
  const text = format(message, ...args.map(renderArg));
  const prefix = settings.journal ? priority : `${settings.name}: `;
  // sd-daemon(3): a prefix applies to one line only, so every line gets its own.
  for (const line of text.split('\n')) settings.sink(prefix + line);
}

/**
 * The log calls. `message` is a `util.format` string (`%s`, `%d`, `%j`, `%o`); hexadecimal
 * must be formatted by the caller.
 */
export const log = {
  /** Something is wrong but the program carries on. Always written. */
  warn(message: string, ...args: unknown[]): void {
    emit(SD_WARNING, message, args);
  },
  /** A normal event worth a line (a VM started). Always written. */
  info(message: string, ...args: unknown[]): void {
    emit(SD_INFO, message, args);
  },
  /** Detail for `-v`. */
  verbose(message: string, ...args: unknown[]): void {
    if (settings.verbosity >= VERBOSITY_VERBOSE) emit(SD_INFO, message, args);
  },
  /** Detail for `-vv`; hot paths check {@link log.debugEnabled} before building arguments. */
  debug(message: string, ...args: unknown[]): void {
    if (settings.verbosity >= VERBOSITY_DEBUG) emit(SD_DEBUG, message, args);
  },
  /** True when debug lines are written. */
  debugEnabled(): boolean {
    return settings.verbosity >= VERBOSITY_DEBUG;
  },
};
