/**
 * A reader for `ar` archives, the container of Debian packages (deb(5): the members
 * `debian-binary`, `control.tar.*` and `data.tar.*`). Format: ar(5) of GNU binutils and the
 * BSDs. An archive is the magic `!<arch>\n`, then members, each a 60-byte text header
 *
 * ```text
 * offset  0  name   16 bytes   space padded; "name/" (GNU), "name" (dpkg), "#1/len" (BSD)
 *        16  mtime  12 bytes   decimal seconds
 *        28  uid     6 bytes   decimal
 *        34  gid     6 bytes   decimal
 *        40  mode    8 bytes   octal
 *        48  size   10 bytes   decimal length of the data
 *        58  fmag    2 bytes   "`\n"
 * ```
 *
 * followed by the data, padded with a newline to an even offset. GNU archives keep names longer
 * than 15 bytes in a `//` member and refer to them as `/offset`; BSD archives put them at the
 * start of the data (`#1/length`). Symbol tables (`/`, `/SYM64/`, `__.SYMDEF`) are skipped.
 */

/** The eight bytes every ar archive starts with. */
export const AR_MAGIC = '!<arch>\n';
const HEADER_SIZE = 60;
const SYMBOL_TABLES = new Set(['/', '/SYM64/', '__.SYMDEF', '__.SYMDEF SORTED']);

/** A malformed archive; the message names the archive and says what is wrong where. */
export class ArFormatError extends Error {
  override name = 'ArFormatError';
}

/** One member of an archive. */
export interface ArMember {
  /** The member's file name. */
  readonly name: string;
  /** Modification time, seconds since the epoch. */
  readonly mtime: number;
  /** Owner and group ids. */
  readonly uid: number;
  /** @see uid */
  readonly gid: number;
  /** File mode bits (type and permissions), as `st_mode`. */
  readonly mode: number;
  /** The member's bytes: a view into the archive, not a copy. */
  readonly data: Uint8Array;
}

/** True when `bytes` starts with the ar magic. */
export function isAr(bytes: Uint8Array): boolean {
  return ascii(bytes, 0, AR_MAGIC.length) === AR_MAGIC;
}

/**
 * Lists the members of the archive in `archive`, in order, without symbol tables. `name`
 * heads error messages (`busybox.deb: member 2 at offset 0x84: size "12a" is not a number`).
 */
export function readAr(archive: Uint8Array, name = 'archive'): ArMember[] {
  // Explicitly typed so that TypeScript treats `fail(...)` statements as never returning.
  const fail: (problem: string) => never = (problem) => {
    throw new ArFormatError(`${name}: ${problem}`);
  };
  if (ascii(archive, 0, 8) === '!<thin>\n')
    fail('thin archives (members outside) are not supported');
  if (!isAr(archive)) fail('not an ar archive (bad magic)');
  const members: ArMember[] = [];
  let longNames: Uint8Array | undefined;
  let index = 0;
  for (let at = AR_MAGIC.length; at < archive.length; index++) {
    const where = `member ${index} at offset 0x${at.toString(16)}`;
    if (archive.length - at === 1 && archive[at] === 0x0a) break; // final padding byte
    if (at + HEADER_SIZE > archive.length) fail(`${where}: truncated header`);
    if (ascii(archive, at + 58, 2) !== '`\n') fail(`${where}: bad header terminator`);
    const field = (offset: number, length: number, what: string, radix: 8 | 10): number => {
      const text = ascii(archive, at + offset, length).trim();
      if (text === '') return 0;
      const ok = radix === 8 ? /^[0-7]+$/.test(text) : /^\d+$/.test(text);
      const value = Number.parseInt(text, radix);
      if (!ok || !Number.isSafeInteger(value)) fail(`${where}: ${what} "${text}" is not a number`);
      return value;
    };
    const size = field(48, 10, 'size', 10);
    const start = at + HEADER_SIZE;
    if (start + size > archive.length) {
      fail(`${where}: ${size} bytes of data run past the end of the ${archive.length}-byte file`);
    }
    let data = archive.subarray(start, start + size);
    let memberName = ascii(archive, at, 16).trimEnd();
    at = start + size + (size % 2); // data is padded to an even offset

    if (memberName === '//') {
      longNames = data; // GNU long-name table: "name/\n" entries
      continue;
    }
    if (SYMBOL_TABLES.has(memberName)) continue;
    if (/^#1\/\d+$/.test(memberName)) {
      // BSD: the name is the first bytes of the data.
      const length = Number.parseInt(memberName.slice(3), 10);
      if (length > data.length) fail(`${where}: BSD name of ${length} bytes exceeds its data`);
      memberName = ascii(data, 0, length).replace(/\0+$/, '');
      data = data.subarray(length);
    } else if (/^\/\d+$/.test(memberName)) {
      // GNU: an offset into the long-name table.
      const offset = Number.parseInt(memberName.slice(1), 10);
      const table = longNames ?? fail(`${where}: long name ${memberName} without a // table`);
      if (offset >= table.length) fail(`${where}: long name offset ${offset} is past the table`);
      let end = table.indexOf(0x0a, offset);
      if (end < 0) end = table.length;
      memberName = ascii(table, offset, end - offset).replace(/\/$/, '');
    } else if (memberName.endsWith('/')) {
      memberName = memberName.slice(0, -1); // GNU terminates short names with '/'
    }
    if (memberName === '') fail(`${where}: empty member name`);
    members.push({
      name: memberName,
      mtime: field(16, 12, 'mtime', 10),
      uid: field(28, 6, 'uid', 10),
      gid: field(34, 6, 'gid', 10),
      mode: field(40, 8, 'mode', 8),
      data,
    });
  }
  return members;
}

/** Bytes `[start, start + length)` of `bytes` as Latin-1 text (clipped at the end). */
function ascii(bytes: Uint8Array, start: number, length: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .subarray(start, start + length)
    .toString('latin1');
}
