/**
 * Helpers for the disk image tests: QEMU's own tools as the reference (`qemu-img`, `qemu-io`
 * from Debian's qemu-utils), temporary folders and a seeded random generator.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why the tests that need qemu-img are skipped, or false when it is installed. */
export const SKIP_QEMU: string | false =
  spawnSync('qemu-img', ['--version']).status === 0 &&
  spawnSync('qemu-io', ['--version']).status === 0
    ? false
    : 'qemu-img is not installed (Debian: apt-get install qemu-utils)';

/** Runs a QEMU tool; returns standard output, or throws with its standard error. */
export function qemu(tool: 'qemu-img' | 'qemu-io', args: readonly string[]): string {
  const r = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    throw new Error(`${tool} ${args.join(' ')}: status ${r.status}: ${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** What `qemu-img check --output=json` reports. */
export interface CheckReport {
  corruptions?: number;
  leaks?: number;
  'check-errors': number;
  'image-end-offset'?: number;
}

/** Runs `qemu-img check` and returns its report, whatever its exit status. */
export function qemuCheck(path: string): CheckReport {
  const r = spawnSync('qemu-img', ['check', '--output=json', path], { encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout) as CheckReport;
  } catch {
    throw new Error(`qemu-img check ${path}: status ${r.status}: ${r.stderr}`);
  }
}

/** Throws unless `qemu-img check` finds no corruption, no leak and no error. */
export function assertClean(path: string): void {
  const r = qemuCheck(path);
  if ((r.corruptions ?? 0) !== 0 || (r.leaks ?? 0) !== 0 || r['check-errors'] !== 0) {
    const detail = spawnSync('qemu-img', ['check', path], { encoding: 'utf8' });
    throw new Error(
      `qemu-img check ${path}: ${JSON.stringify(r)}\n${detail.stdout}${detail.stderr}`,
    );
  }
}

/** What `qemu-img info --output=json` reports (the fields the tests use). */
export interface InfoReport {
  format: string;
  'virtual-size': number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
  'full-backing-filename'?: string;
}

/** Runs `qemu-img info` on `path`. */
export function qemuInfo(path: string): InfoReport {
  return JSON.parse(qemu('qemu-img', ['info', '--output=json', path])) as InfoReport;
}

/** The virtual disk of `image` as raw bytes, by `qemu-img convert -O raw`. */
export async function qemuContents(image: string, dir: string): Promise<Buffer> {
  const out = join(dir, `convert-${String(Date.now())}-${String(Math.random()).slice(2)}.raw`);
  qemu('qemu-img', ['convert', '-O', 'raw', image, out]);
  try {
    return await readFile(out);
  } finally {
    await rm(out, { force: true });
  }
}

/** Makes a temporary folder; the returned function removes it. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vmd-disk-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The SHA-256 of a file, to show that it did not change. */
export async function fileHash(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** A small seeded pseudo-random generator (mulberry32), so failures can be replayed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.below(256);
    return out;
  }
}

/** True if `a` and `b` hold the same bytes (compared without copying). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return x.equals(y);
}
