/**
 * What the parser asks of the system by default: reading files, canonicalising image paths,
 * sniffing an image's format, and looking up users and groups in /etc/passwd and /etc/group
 * (as getpwnam(3)/getgrnam(3) would, without NSS). Tests replace all of these.
 */

import { closeSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import type { DiskFormat } from './types.js';

/** The qcow2 magic, "QFI\xfb" (VM_MAGIC_QCOW). */
const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb];

/** Reads a config file as UTF-8. */
export function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

/** realpath(3): the canonical path of an existing file. */
export function defaultRealpath(path: string): string {
  return realpathSync.native(path);
}

/** parse_disk's sniffing: qcow2 when the file starts with the qcow2 magic, else raw. */
export function defaultProbeDiskFormat(path: string): DiskFormat {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 'raw';
  }
  try {
    const head = Buffer.alloc(QCOW2_MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return n === head.length && QCOW2_MAGIC.every((b, i) => head[i] === b) ? 'qcow2' : 'raw';
  } catch {
    return 'raw';
  } finally {
    closeSync(fd);
  }
}

/**
 * Parses passwd(5) or group(5) text into name → id (the third field). Comments, blank lines
 * and NIS `+`/`-` entries are skipped; the first entry of a name wins, as for getpwnam(3).
 */
export function parseAccountFile(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) {
      continue;
    }
    const [name, , id] = line.split(':');
    if (name === undefined || name === '' || id === undefined || !/^[0-9]+$/.test(id)) continue;
    if (!ids.has(name)) ids.set(name, Number(id));
  }
  return ids;
}

/**
 * A name lookup over an account file, read once on first use. A name that is not there but
 * is all digits is taken as a numeric id, as chown(1) does; an unreadable file finds nothing
 * but numeric ids.
 */
export function accountLookup(
  path: string,
  read: (path: string) => string = defaultReadFile,
): (name: string) => number | undefined {
  let ids: Map<string, number> | undefined;
  return (name) => {
    if (ids === undefined) {
      try {
        ids = parseAccountFile(read(path));
      } catch {
        ids = new Map();
      }
    }
    const id = ids.get(name);
    if (id !== undefined) return id;
    return /^[0-9]+$/.test(name) && Number(name) <= 0xfffffffe ? Number(name) : undefined;
  };
}
