/**
 * The value checks of vm.conf, each after the vmd function that makes it: VM names
 * (vm_register), interface groups (priv_validgroup), tap and bridge names (priv_getiftype),
 * MAC addresses (ether_aton(3)) and the local prefixes (parse_prefix4, parse_prefix6).
 */

import { LIMITS, type LocalPrefix } from './types.js';

/** strerror(3) texts for the errno codes that file access reports. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EIO: 'Input/output error',
};

/** The strerror(3) text of a failed file operation, as vmd's log_warn would append it. */
export function errnoText(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in ERRNO_TEXT) return ERRNO_TEXT[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}

/**
 * vm_register's name rule: not empty, not starting with `-`, `.` or `_`, and only letters,
 * digits, `.`, `-` and `_`. (The length limit is checked while parsing.)
 */
export function isValidVmName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

/** priv_validgroup: shorter than IF_NAMESIZE and not ending in a digit. */
export function isValidGroupName(name: string): boolean {
  return name.length < LIMITS.ifNameSize && !/[0-9]$/.test(name);
}

/** A VM interface name: `tap` (the next free one) or `tapN` (priv_getiftype's type "tap"). */
export function isValidTapName(name: string): boolean {
  if (name === 'tap') return true;
  const m = /^tap([0-9]+)$/.exec(name);
  return m !== null && Number(m[1]) <= 0xffffffff;
}

/**
 * A host interface name as Linux accepts it (dev_valid_name): not empty, not `.` or `..`, and
 * no `/`, `:` or white space. The length (IF_NAMESIZE) is checked separately.
 */
export function isValidIfName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** ether_aton(3): six hexadecimal octets joined by `:`; lowercase two-digit form, or null. */
export function parseLladdr(text: string): string | null {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return null;
  return parts.map((p) => p.toLowerCase().padStart(2, '0')).join(':');
}

/** strtonum(3) over `[min, max]`: the number, or its error string. */
function strtonum(text: string, min: number, max: number): number | string {
  if (!/^-?[0-9]+$/.test(text)) return 'invalid';
  const n = Number(text);
  if (n < min) return 'too small';
  if (n > max) return 'too large';
  return n;
}

/** Splits `address[/length]`: the address and the length (or its strtonum error). */
function splitPrefix(
  text: string,
  min: number,
  max: number,
  fallback: number,
): { address: string; length: number | string } {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return { address: text, length: fallback };
  return { address: text.slice(0, slash), length: strtonum(text.slice(slash + 1), min, max) };
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255)) {
    return null;
  }
  return parts.map(Number);
}

/** Whether the bits of `bytes` past the first `length` are all zero. */
function fitsMask(bytes: readonly number[], length: number): boolean {
  return bytes.every((byte, i) => {
    const keep = Math.max(0, Math.min(8, length - i * 8));
    return (byte & (0xff >> keep)) === 0;
  });
}

/**
 * parse_prefix4: `a.b.c.d[/len]` with len 1..16 (default 16; vmd keeps the low 16 bits for
 * VM and interface numbers) and no host bits set. The prefix, or vmd's error string.
 */
export function parsePrefix4(text: string): LocalPrefix | string {
  const { address, length } = splitPrefix(text, 1, 16, 16);
  if (typeof length === 'string') return length;
  const bytes = parseIpv4(address);
  if (bytes === null) return 'invalid format';
  if (!fitsMask(bytes, length)) return 'bad mask';
  return { address: bytes.join('.'), length };
}

function parseIpv6(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const fields = part.split(':');
    for (const [i, field] of fields.entries()) {
      const v4 = i === fields.length - 1 && field.includes('.') ? parseIpv4(field) : null;
      if (v4 !== null) {
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(field)) {
        out.push(parseInt(field, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** RFC 5952 text of 16 address bytes: lowercase, the longest run of zero groups as `::`. */
function formatIpv6(bytes: readonly number[]): string {
  const words = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0),
  );
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j + 1;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`;
}

/**
 * parse_prefix6: `address[/len]` with len 0..64 (default 64; vmd puts the guest's IPv4
 * address in the next bits) and no host bits set. The prefix, or vmd's error string.
 */
export function parsePrefix6(text: string): LocalPrefix | string {
  const { address, length } = splitPrefix(text, 0, 64, 64);
  if (typeof length === 'string') return length;
  const bytes = parseIpv6(address);
  if (bytes === null) return 'invalid format';
  if (!fitsMask(bytes, length)) return 'bad mask';
  return { address: formatIpv6(bytes), length };
}
