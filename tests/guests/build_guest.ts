/**
 * Builds the assembly test guests of this folder into ELF kernels: `nasm -f elf64`, then `ld`
 * with the image at 1 MiB and `start` as the entry. Results are cached under `.cache/guests`
 * by a hash of the source, so repeated test runs assemble nothing.
 *
 * As a program: `node build_guest.js NAME` builds `NAME.asm` and prints the ELF's path.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root (this file is compiled to dist/tests/guests/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SOURCES = join(REPO_ROOT, 'tests/guests');
const CACHE = join(REPO_ROOT, '.cache/guests');

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${cmd} is not installed (Debian: apt-get install ${cmd === 'ld' ? 'binutils' : cmd})`,
        { cause: error },
      );
    }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: error });
  }
}

/** Builds guest `name` (tests/guests/NAME.asm) and returns the path of its ELF. */
export async function buildGuest(name: string): Promise<string> {
  const source = join(SOURCES, `${name}.asm`);
  const text = await readFile(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const elf = join(CACHE, `${name}-${hash}.elf`);
  if (await exists(elf)) return elf;
  await mkdir(CACHE, { recursive: true });
  const object = `${elf}.${process.pid}.o`;
  const partial = `${elf}.${process.pid}.tmp`;
  await tool('nasm', ['-f', 'elf64', '-o', object, source]);
  await tool('ld', [
    '-static',
    '-nostdlib',
    '-z',
    'noexecstack',
    '-z',
    'max-page-size=0x1000',
    '-Ttext-segment=0x100000',
    '-e',
    'start',
    '-o',
    partial,
    object,
  ]);
  await rm(object);
  await rename(partial, elf);
  return elf;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = process.argv[2];
  if (name === undefined) {
    process.stderr.write('usage: build_guest NAME\n');
    process.exit(2);
  }
  buildGuest(name).then(
    (path) => {
      process.stdout.write(`${path}\n`);
    },
    (error: unknown) => {
      process.stderr.write(
        `build_guest: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
