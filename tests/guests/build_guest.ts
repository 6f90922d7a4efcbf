/**
 * Builds the assembly test guests of this folder into ELF kernels: `nasm -f elf64`, then `ld`
 * with the image at 1 MiB and `start` as the entry. Results are cached under `.cache/build`
 * by a hash of the source, so repeated test runs assemble nothing.
 *
 * As a program: `node build_guest.js NAME` builds `NAME.asm` and prints the ELF's path.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root (this file is compiled to dist/tests/guests/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SOURCES = join(REPO_ROOT, 'tests/guests');
const CACHE = join(REPO_ROOT, '.cache/build');

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs a build tool; a missing tool or a failure becomes an Error that says which and why. */
export async function runTool(cmd: string, args: string[]): Promise<void> {
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
export function buildGuest(name: string): Promise<string> {
  return assembleGuest(join(SOURCES, `${name}.asm`));
}

/**
 * Assembles and links `source` into a guest ELF with nasm `-D` `defines` (and the source's
 * folder on the include path); returns the cached ELF's path.
 */
export async function assembleGuest(
  source: string,
  defines: Readonly<Record<string, string | number>> = {},
): Promise<string> {
  const flags = Object.entries(defines).map(([k, v]) => `-D${k}=${String(v)}`);
  const hash = createHash('sha256');
  hash.update(await readFile(source));
  for (const include of await includedFiles(source)) hash.update(await readFile(include));
  hash.update(flags.join(' '));
  const name = basename(source, '.asm');
  return cachedBuild(`${name}-${hash.digest('hex').slice(0, 16)}.elf`, async (partial) => {
    const object = `${partial}.o`;
    await runTool('nasm', ['-f', 'elf64', `-I${dirname(source)}/`, ...flags, '-o', object, source]);
    await runTool('ld', [
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
  });
}

/**
 * Returns `.cache/build/NAME` (NAME carries a hash of its inputs), building it first when it
 * is missing: `build` writes a temporary path that is renamed into place once complete, so a
 * failed or concurrent build never leaves a half-written file under the final name.
 */
export async function cachedBuild(
  name: string,
  build: (partial: string) => Promise<void>,
): Promise<string> {
  const path = join(CACHE, name);
  if (await exists(path)) return path;
  await mkdir(CACHE, { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  await build(partial);
  await rename(partial, path);
  return path;
}

/** The files `source` pulls in with `%include "…"`, so a change to them rebuilds it. */
async function includedFiles(source: string): Promise<string[]> {
  const text = await readFile(source, 'utf8');
  return Array.from(text.matchAll(/^\s*%include\s+"([^"]+)"/gm), (m) =>
    join(dirname(source), m[1] ?? ''),
  );
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
