/**
 * Finding and fetching Debian packages with the host's apt, as an unprivileged user: what a
 * name resolves to (`apt-cache show`), and the .deb itself (`apt-get download`, which needs no
 * root and installs nothing). Records are deb822 stanzas (deb822(5)): `Field: value` lines,
 * continuation lines starting with a space, stanzas separated by blank lines.
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { log } from '../common/log.js';
import { ToolError, runTool } from './tool.js';

/** A package as apt's index describes its candidate version. */
export interface AptPackage {
  /** Package name, e.g. `linux-image-6.1.0-56-amd64`. */
  readonly name: string;
  /** Version with its epoch, e.g. `1:1.35.0-4+deb12u1+b1`. */
  readonly version: string;
  /** `amd64`, or `all`. */
  readonly architecture: string;
  /** Size of the .deb in bytes. */
  readonly size: number;
  /** SHA-256 of the .deb, lower-case hexadecimal. */
  readonly sha256: string;
  /** The `Depends` field as written, or ''. */
  readonly depends: string;
}

/** A package that apt does not know or could not fetch. */
export class AptError extends Error {
  override name = 'AptError';
}

/** Parses deb822 text into stanzas of field → value (continuation lines joined by `\n`). */
export function parseDeb822(text: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  let field: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = undefined;
      field = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (current !== undefined && field !== undefined) {
        current[field] = `${current[field] ?? ''}\n${line.trim()}`;
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (current === undefined) {
      current = {};
      stanzas.push(current);
    }
    field = line.slice(0, colon);
    current[field] = line.slice(colon + 1).trim();
  }
  return stanzas;
}

/** The package described by a deb822 stanza from `apt-cache show`; `what` heads errors. */
export function packageFromStanza(
  stanza: Readonly<Record<string, string>>,
  what: string,
): AptPackage {
  const need = (field: string): string => {
    const value = stanza[field];
    if (value === undefined || value === '') {
      throw new AptError(`${what}: apt-cache show gave no ${field} field`);
    }
    return value;
  };
  const size = Number(need('Size'));
  const sha256 = need('SHA256').toLowerCase();
  if (!Number.isSafeInteger(size) || size <= 0) throw new AptError(`${what}: bad Size ${size}`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AptError(`${what}: bad SHA256 "${sha256}"`);
  return {
    name: need('Package'),
    version: need('Version'),
    architecture: need('Architecture'),
    size,
    sha256,
    depends: stanza.Depends ?? '',
  };
}

/** The candidate versions of packages `names`, in order, from one `apt-cache show` call. */
export async function aptShowAll(names: readonly string[]): Promise<AptPackage[]> {
  let text: string;
  try {
    const args = ['show', '--no-all-versions', ...names];
    text = (await runTool('apt-cache', args)).stdout.toString();
  } catch (error) {
    if (error instanceof ToolError && /No packages found|Unable to locate/.test(error.stderr)) {
      throw unknownPackage(names.join(', '), error);
    }
    throw error;
  }
  const stanzas = parseDeb822(text);
  return names.map((name) => {
    // With several names apt-cache skips the unknown ones silently.
    const stanza = stanzas.find((s) => s.Package === name);
    if (stanza === undefined) throw unknownPackage(name);
    return packageFromStanza(stanza, name);
  });
}

/** The candidate version of package `name`, from `apt-cache show --no-all-versions`. */
export async function aptShow(name: string): Promise<AptPackage> {
  const [pkg] = await aptShowAll([name]);
  if (pkg === undefined) throw unknownPackage(name);
  return pkg;
}

function unknownPackage(name: string, cause?: unknown): AptError {
  return new AptError(
    `apt knows no package ${name}; guest images are built from Debian's packages ` +
      `(on Debian, run apt-get update first)`,
    { cause },
  );
}

/**
 * The kernel image package a metapackage such as `linux-image-amd64` depends on: the first
 * dependency named `linux-image-…` (`linux-image-6.1.0-56-amd64 (= 6.1.192-2)`).
 */
export function kernelImageDependency(meta: AptPackage): string {
  for (const clause of meta.depends.split(',')) {
    for (const alternative of clause.split('|')) {
      const name = /^\s*(linux-image-[^\s(:]+)/.exec(alternative)?.[1];
      if (name !== undefined) return name;
    }
  }
  throw new AptError(`${meta.name} ${meta.version} depends on no linux-image package`);
}

/** The kernel image package that metapackage `meta` stands for (itself if it is one). */
export async function kernelPackageOf(meta: AptPackage): Promise<AptPackage> {
  const name = kernelImageDependency(meta);
  return name === meta.name ? meta : aptShow(name);
}

/** The real kernel package behind metapackage `meta` (by default `linux-image-amd64`). */
export async function resolveKernelPackage(meta = 'linux-image-amd64'): Promise<AptPackage> {
  return kernelPackageOf(await aptShow(meta));
}

/**
 * The file name `apt-get download` gives a package: `name_version_arch.deb` with the epoch's
 * colon written `%3a`.
 */
export function debFileName(pkg: AptPackage): string {
  return `${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_${pkg.architecture}.deb`;
}

/**
 * Returns the .deb of `pkg` in folder `dir`, downloading it first with `apt-get download`
 * when it is not there yet. A download is checked against the index's size and SHA-256
 * before it takes its final name. `downloaded` says whether this call fetched it.
 */
export async function aptDownload(
  pkg: AptPackage,
  dir: string,
): Promise<{ path: string; downloaded: boolean }> {
  const path = join(dir, debFileName(pkg));
  try {
    if ((await stat(path)).size === pkg.size) return { path, downloaded: false };
  } catch {
    // not there yet
  }
  const partial = join(dir, `.download-${process.pid}`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  log.info('downloading %s %s (%s MiB)', pkg.name, pkg.version, (pkg.size / 2 ** 20).toFixed(1));
  try {
    await runTool('apt-get', ['download', `${pkg.name}=${pkg.version}`], { cwd: partial });
    const debs = (await readdir(partial)).filter((f) => f.endsWith('.deb'));
    const fetched = debs[0];
    if (fetched === undefined || debs.length !== 1) {
      throw new AptError(`apt-get download ${pkg.name} left ${debs.length} .deb files`);
    }
    const bytes = await readFile(join(partial, fetched));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== pkg.size || sha256 !== pkg.sha256) {
      throw new AptError(
        `${fetched}: ${bytes.length} bytes with SHA-256 ${sha256}, but apt's index says ` +
          `${pkg.size} bytes with ${pkg.sha256}`,
      );
    }
    await rename(join(partial, fetched), path);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { path, downloaded: true };
}
