/**
 * What every command shares: one-line errors headed by the program's name, and option
 * parsing that answers `-h` with the usage and a bad option with the usage and status 2.
 */

import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

/** Writes `prog: message` to standard error and exits with `status`. */
export function fail(prog: string, message: string, status = 1): never {
  process.stderr.write(`${prog}: ${message}\n`);
  process.exit(status);
}

/**
 * Parses the command line with `config` (node:util parseArgs, whose options should include
 * `help: { type: 'boolean', short: 'h' }`). Returns undefined after printing the usage for
 * `-h`; exits with status 2 and the usage on a bad option.
 */
export function parseCommandLine<T extends ParseArgsConfig>(
  prog: string,
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> | undefined {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    fail(prog, `${error instanceof Error ? error.message : String(error)}\n${usage}`, 2);
  }
  if ((parsed.values as Record<string, unknown>)['help'] === true) {
    process.stdout.write(`${usage}\n`);
    return undefined;
  }
  return parsed;
}
