/**
 * Takes files out of a Debian binary package without installing it. deb(5): an ar archive
 * (read by `ar.ts`) whose first member `debian-binary` holds the format version ("2.0\n"),
 * followed by `control.tar[.COMP]` (metadata) and `data.tar[.COMP]` (the files, paths starting
 * with `./`). The data tarball goes to the system `tar` on standard input, with the
 * decompressor its name calls for.
 */

import { mkdir, readFile } from 'node:fs/promises';
import { readAr } from './ar.js';
import type { ArMember } from './ar.js';
import { ToolError, notInstalled, runTool } from './tool.js';

/** A package that is not a valid .deb, or whose files could not be extracted. */
export class DebError extends Error {
  override name = 'DebError';
}

/** tar's option for each compression a data member may have, and the program it runs. */
const TAR_COMPRESSION: Readonly<Record<string, { flag: string | undefined; program?: string }>> = {
  '': { flag: undefined },
  '.gz': { flag: '--gzip', program: 'gzip' },
  '.xz': { flag: '--xz', program: 'xz' },
  '.zst': { flag: '--zstd', program: 'zstd' },
  '.bz2': { flag: '--bzip2', program: 'bzip2' },
  '.lzma': { flag: '--lzma', program: 'xz' },
};

/** The parts of a .deb: its format version and the control and data tarballs. */
export interface DebParts {
  /** The `debian-binary` content without its newline, e.g. `2.0`. */
  readonly format: string;
  /** The `control.tar*` member. */
  readonly control: ArMember;
  /** The `data.tar*` member. */
  readonly data: ArMember;
}

/** Splits a .deb (its bytes) into its parts; `name` heads error messages. */
export function readDeb(deb: Uint8Array, name: string): DebParts {
  const members = readAr(deb, name);
  const first = members[0];
  if (first?.name !== 'debian-binary') {
    throw new DebError(`${name}: not a Debian package (no debian-binary member first)`);
  }
  const format = Buffer.from(first.data).toString('latin1').trim();
  if (!/^2\.\d+$/.test(format)) {
    throw new DebError(`${name}: unsupported Debian package format "${format}", expected 2.x`);
  }
  const find = (base: string): ArMember => {
    const member = members.find((m) => m.name === base || m.name.startsWith(`${base}.`));
    if (member === undefined) throw new DebError(`${name}: no ${base} member`);
    return member;
  };
  return { format, control: find('control.tar'), data: find('data.tar') };
}

/**
 * Extracts the files of package `debPath` whose paths match `patterns` (tar wildcards on the
 * paths as stored, e.g. `./boot/vmlinuz-*`) into folder `dest`, which is created. Every
 * pattern must match something.
 */
export async function extractDeb(
  debPath: string,
  dest: string,
  patterns: readonly string[],
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(debPath);
  } catch (error) {
    throw new DebError(`${debPath}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  const { data } = readDeb(bytes, debPath);
  const suffix = data.name.slice('data.tar'.length);
  const compression = TAR_COMPRESSION[suffix];
  if (compression === undefined) {
    throw new DebError(`${debPath}: unknown data member compression "${data.name}"`);
  }
  await mkdir(dest, { recursive: true });
  const args = ['-x', '-f', '-', '-C', dest, '--no-same-owner', '--wildcards'];
  if (compression.flag !== undefined) args.push(compression.flag);
  try {
    await runTool('tar', [...args, '--', ...patterns], { input: data.data });
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    const program = compression.program;
    // GNU tar: "tar (child): xz: Cannot exec: No such file or directory".
    if (program !== undefined && error.stderr.includes(`${program}: Cannot exec`)) {
      throw new DebError(`${debPath}: cannot extract ${data.name}: ${notInstalled(program)}`, {
        cause: error,
      });
    }
    const missing = /: (.*): Not found in archive/.exec(error.stderr);
    if (missing !== null) {
      throw new DebError(`${debPath}: no file matches ${missing[1] ?? '?'}`, { cause: error });
    }
    throw new DebError(`${debPath}: cannot extract ${data.name}: ${error.message}`, {
      cause: error,
    });
  }
}
