/**
 * A writer of cpio archives in the "new ASCII" (newc) format, the format of a Linux initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Each entry is a 110-byte
 * header, the magic `070701` and thirteen 8-digit hexadecimal fields
 *
 * ```text
 * ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
 * ```
 *
 * then the NUL-terminated name, padded so that the data starts at a multiple of 4, then the
 * data (a file's bytes or a symbolic link's target), padded to a multiple of 4. The entry named
 * `TRAILER!!!` ends the archive, which is padded to a 512-byte block as GNU cpio does.
 *
 * Archives are reproducible: entries come out in the order given, with inode numbers counted
 * from 1 and, by default, owner 0:0 and modification time 0.
 */

/** The magic of a newc header ("new ASCII", no checksum). */
export const CPIO_NEWC_MAGIC = '070701';
/** The name of the entry that ends an archive. */
export const CPIO_TRAILER = 'TRAILER!!!';

const HEADER_SIZE = 110;
const BLOCK = 512;
const MAX_FIELD = 0xffff_ffff;

/** `st_mode` file-type bits (sys/stat.h). */
export const S_IFDIR = 0o040000;
/** @see S_IFDIR */
export const S_IFREG = 0o100000;
/** @see S_IFDIR */
export const S_IFLNK = 0o120000;
/** @see S_IFDIR */
export const S_IFCHR = 0o020000;
/** @see S_IFDIR */
export const S_IFBLK = 0o060000;

/** Owner, permissions and time, common to every kind of entry. */
interface EntryAttributes {
  /** Path inside the archive, e.g. `bin/busybox`; a leading `/` is dropped. */
  readonly path: string;
  /** Permission bits (`0o755`); the default depends on the kind of entry. */
  readonly mode?: number;
  /** Owner and group ids; 0 by default. */
  readonly uid?: number;
  /** @see uid */
  readonly gid?: number;
  /** Modification time in seconds since the epoch; 0 by default. */
  readonly mtime?: number;
}

/** One entry of an archive: a folder, a file, a symbolic link or a device node. */
export type CpioEntry =
  | (EntryAttributes & { readonly type: 'dir' })
  | (EntryAttributes & { readonly type: 'file'; readonly data: Uint8Array })
  | (EntryAttributes & { readonly type: 'symlink'; readonly target: string })
  | (EntryAttributes & {
      readonly type: 'char' | 'block';
      readonly major: number;
      readonly minor: number;
    });

/** An entry that cannot be archived; the message names it. */
export class CpioError extends Error {
  override name = 'CpioError';
}

const TYPE_BITS: Readonly<Record<CpioEntry['type'], number>> = {
  dir: S_IFDIR,
  file: S_IFREG,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
};

const DEFAULT_PERMISSIONS: Readonly<Record<CpioEntry['type'], number>> = {
  dir: 0o755,
  file: 0o644,
  symlink: 0o777,
  char: 0o600,
  block: 0o600,
};

/**
 * Builds a newc archive of `entries`, in their order. Every entry's parent folder must come
 * before it (the kernel's unpacker does not create missing folders), except top-level entries;
 * paths must be unique and free of `.` and `..` components.
 */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  const push = (part: Uint8Array): void => {
    parts.push(part);
    length += part.length;
  };
  const seen = new Map<string, CpioEntry['type']>();
  let ino = 1;
  for (const entry of entries) {
    const path = checkPath(entry, seen);
    seen.set(path, entry.type);
    const data =
      entry.type === 'file'
        ? entry.data
        : entry.type === 'symlink'
          ? Buffer.from(entry.target, 'utf8')
          : new Uint8Array();
    if (entry.type === 'symlink' && entry.target === '') {
      throw new CpioError(`${path}: empty symbolic link target`);
    }
    const device = entry.type === 'char' || entry.type === 'block';
    const perm = entry.mode ?? DEFAULT_PERMISSIONS[entry.type];
    if (!Number.isInteger(perm) || perm < 0 || perm > 0o7777) {
      throw new CpioError(`${path}: permission bits 0o${perm.toString(8)} out of range`);
    }
    const fields = [
      ino++,
      TYPE_BITS[entry.type] | perm,
      entry.uid ?? 0,
      entry.gid ?? 0,
      entry.type === 'dir' ? 2 : 1,
      entry.mtime ?? 0,
      data.length,
      0, // devmajor, devminor: the device holding the file
      0,
      device ? entry.major : 0, // rdevmajor, rdevminor: the device a node stands for
      device ? entry.minor : 0,
    ];
    writeEntry(push, path, fields, data);
  }
  writeEntry(push, CPIO_TRAILER, [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0], new Uint8Array());
  const padding = (BLOCK - (length % BLOCK)) % BLOCK;
  if (padding > 0) push(new Uint8Array(padding));
  return Buffer.concat(parts, length);
}

/** Appends one header, name and data, each padded to 4 bytes. */
function writeEntry(
  push: (part: Uint8Array) => void,
  name: string,
  fields: readonly number[],
  data: Uint8Array,
): void {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const all = [...fields, nameBytes.length, 0]; // namesize, check (0 in newc)
  for (const value of all) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
      throw new CpioError(`${name}: header value ${value} does not fit 8 hexadecimal digits`);
    }
  }
  const header = CPIO_NEWC_MAGIC + all.map((v) => v.toString(16).padStart(8, '0')).join('');
  push(Buffer.from(header, 'latin1'));
  push(nameBytes);
  push(new Uint8Array(pad4(HEADER_SIZE + nameBytes.length)));
  if (data.length > 0) {
    push(data);
    push(new Uint8Array(pad4(data.length)));
  }
}

/** Bytes needed to bring `n` to a multiple of 4. */
function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Normalises and checks an entry's path against the entries before it. */
function checkPath(entry: CpioEntry, seen: ReadonlyMap<string, CpioEntry['type']>): string {
  const path = entry.path.replace(/^\/+/, '');
  const parts = path.split('/');
  if (path === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new CpioError(`"${entry.path}": not a clean relative path`);
  }
  if (path === CPIO_TRAILER) throw new CpioError(`"${path}": reserved for the trailer`);
  if (seen.has(path)) throw new CpioError(`${path}: archived twice`);
  const parent = parts.slice(0, -1).join('/');
  if (parent !== '' && seen.get(parent) !== 'dir') {
    throw new CpioError(`${path}: its folder ${parent} must be archived before it`);
  }
  return path;
}
