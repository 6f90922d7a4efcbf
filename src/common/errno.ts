/** The errno value behind an error, for the places that answer with one (vmctl, VM processes). */

import { constants } from 'node:os';

/** The errno value behind an error from `node:fs`, `node:net` or the C library, or null. */
export function errnoOf(error: unknown): number | null {
  if (typeof error !== 'object' || error === null) return null;
  const { errno, code } = error as { errno?: unknown; code?: unknown };
  if (typeof errno === 'number' && errno !== 0) return Math.abs(errno);
  if (typeof code === 'string' && code in constants.errno) {
    return constants.errno[code as keyof typeof constants.errno];
  }
  return null;
}
