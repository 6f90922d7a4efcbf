/**
 * The Linux test guest, made from Debian's own packages: the kernel of the `linux-image-amd64`
 * metapackage (its bzImage, `/boot/vmlinuz-RELEASE`) and an initramfs around `busybox-static`.
 * Packages are fetched with `apt-get download` and taken apart without being installed.
 *
 * Everything lands in the cache folder (`.cache/guest` by default), named after what it was
 * made from, so a second run with the same package versions downloads and builds nothing:
 *
 * ```text
 * debs/NAME_VERSION_ARCH.deb                          the packages as downloaded
 * kernel/NAME_VERSION-MODULES/vmlinuz-RELEASE         the bzImage
 * kernel/NAME_VERSION-MODULES/release                 the kernel release string
 * kernel/NAME_VERSION-MODULES/modules/RELEASE/        the guest's modules and their modules.dep
 * initramfs/BUSYBOX_VERSION-RELEASE_VERSION-RECIPE/initramfs.cpio[.gz]
 * guest-gzip.json, guest-none.json                    the last image made, for use without apt
 * ```
 *
 * The kernel package is read once for the bzImage and the modules together (its data
 * tarball is most of the time spent).
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { log } from '../common/log.js';
import { AptError, aptDownload, aptShowAll, kernelPackageOf } from './apt.js';
import type { AptPackage } from './apt.js';
import { cacheRoot, cachedPath, exists, withLock } from './cache.js';
import { extractDeb } from './deb.js';
import { ToolError } from './tool.js';
import {
  buildInitramfs,
  initramfsFileName,
  initramfsRecipeHash,
  modulePathInImage,
} from './initramfs.js';
import type { InitramfsCompression } from './initramfs.js';
import { GUEST_MODULES, selectModules } from './kernel_modules.js';
import { formatModulesDep } from './modules_dep.js';

/** A guest kernel and initramfs ready to boot. */
export interface GuestImage {
  readonly kernel: {
    /** The kernel image package, e.g. `linux-image-6.1.0-56-amd64`. */
    readonly package: string;
    /** Its version, e.g. `6.1.192-2`. */
    readonly version: string;
    /** The kernel release (`uname -r`), e.g. `6.1.0-56-amd64`. */
    readonly release: string;
    /** The bzImage, `…/vmlinuz-RELEASE`. */
    readonly path: string;
    /** The guest's modules from the package, and their modules.dep: `…/modules/RELEASE`. */
    readonly modulesDir: string;
  };
  readonly initramfs: {
    /** The busybox-static version inside. */
    readonly busyboxVersion: string;
    readonly compression: InitramfsCompression;
    /** The archive, `…/initramfs.cpio` or `…/initramfs.cpio.gz`. */
    readonly path: string;
    /** The modules `/init` loads, in that order: paths in the archive. */
    readonly modules: readonly string[];
  };
  /** The .deb files this call downloaded; empty when everything came from the cache. */
  readonly downloaded: readonly string[];
  /** True when apt could not be asked and the last image made was used instead. */
  readonly fromManifest: boolean;
}

/** Options of {@link prepareGuestImage}. */
export interface GuestImageOptions {
  /** The cache folder; default `guest` in the project's cache (see `cache.ts`). */
  cacheDir?: string;
  /** Compression of the initramfs; gzip by default. */
  compression?: InitramfsCompression;
  /** The kernel metapackage to resolve; `linux-image-amd64` by default. */
  kernelPackage?: string;
  /** The busybox package; `busybox-static` by default (it must be statically linked). */
  busyboxPackage?: string;
}

/**
 * Makes (or finds in the cache) the guest kernel and initramfs. Concurrent callers, in this
 * or other processes, wait for one another. When apt cannot be asked (no apt on the host, no
 * package lists) the last image made is used with a warning, if there is one.
 */
export async function prepareGuestImage(options: GuestImageOptions = {}): Promise<GuestImage> {
  const root = resolve(options.cacheDir ?? join(cacheRoot(), 'guest'));
  const compression = options.compression ?? 'gzip';
  const manifest = join(root, `guest-${compression}.json`);
  return withLock(
    join(root, '.lock'),
    async () => {
      let kernelPkg: AptPackage;
      let busyboxPkg: AptPackage;
      try {
        const [meta, busybox] = await aptShowAll([
          options.kernelPackage ?? 'linux-image-amd64',
          options.busyboxPackage ?? 'busybox-static',
        ]);
        if (meta === undefined || busybox === undefined) throw new Error('apt-cache show failed');
        kernelPkg = await kernelPackageOf(meta);
        busyboxPkg = busybox;
      } catch (error) {
        // apt missing, or without package lists: fall back on the last image, if any.
        if (!(error instanceof ToolError || error instanceof AptError)) throw error;
        const cached = await readManifest(manifest, root);
        if (cached === undefined) throw error;
        log.warn('%s; using the cached guest image', error);
        return cached;
      }
      const downloaded: string[] = [];
      const fetch = async (pkg: AptPackage): Promise<string> => {
        const deb = await aptDownload(pkg, join(root, 'debs'));
        if (deb.downloaded) downloaded.push(deb.path);
        return deb.path;
      };
      const kernel = await prepareKernel(root, kernelPkg, fetch);
      const initramfs = await prepareInitramfs(root, busyboxPkg, kernel, compression, fetch);
      const image: GuestImage = { kernel, initramfs, downloaded, fromManifest: false };
      await writeManifest(manifest, root, image);
      return image;
    },
    (holder) => {
      log.info('waiting for process %d, which is preparing the guest image', holder);
    },
  );
}

/** Bump when the kernel folder's content changes in a way the module names do not show. */
const KERNEL_RECIPE_VERSION = 1;

/** `kernel/NAME_VERSION-MODULES/`: the bzImage, its release and the guest's modules. */
async function prepareKernel(
  root: string,
  pkg: AptPackage,
  fetch: (pkg: AptPackage) => Promise<string>,
): Promise<GuestImage['kernel']> {
  const recipe = createHash('sha256')
    .update(JSON.stringify({ version: KERNEL_RECIPE_VERSION, modules: GUEST_MODULES }))
    .digest('hex')
    .slice(0, 8);
  const dir = join(root, 'kernel', `${pkg.name}_${pathSafe(pkg.version)}-${recipe}`);
  await cachedPath(dir, async (partial) => {
    const deb = await fetch(pkg);
    const unpacked = join(partial, 'unpacked');
    // One pass over the data tarball for both.
    await extractDeb(deb, unpacked, ['./boot/vmlinuz-*', './lib/modules/*']);
    const images = await readdir(join(unpacked, 'boot'));
    const image = images[0];
    if (image === undefined || images.length !== 1) {
      throw new Error(`${deb}: expected one /boot/vmlinuz-*, found ${images.join(', ') || 'none'}`);
    }
    const release = image.slice('vmlinuz-'.length);
    const selection = await selectModules(join(unpacked, 'lib', 'modules', release), GUEST_MODULES);
    const modulesDir = join(partial, 'modules', release);
    for (const module of selection.modules) {
      await mkdir(dirname(join(modulesDir, module.path)), { recursive: true });
      await writeFile(join(modulesDir, module.path), module.data);
    }
    await writeFile(join(modulesDir, 'modules.dep'), formatModulesDep(selection.modulesDep));
    await rename(join(unpacked, 'boot', image), join(partial, image));
    await rm(unpacked, { recursive: true });
    await writeFile(join(partial, 'release'), `${release}\n`);
  });
  const release = (await readFile(join(dir, 'release'), 'utf8')).trim();
  return {
    package: pkg.name,
    version: pkg.version,
    release,
    path: join(dir, `vmlinuz-${release}`),
    modulesDir: join(dir, 'modules', release),
  };
}

/**
 * `initramfs/BUSYBOX_VERSION-RELEASE_VERSION-RECIPE/initramfs.cpio[.gz]` around the package's
 * /bin/busybox and the kernel's modules.
 */
async function prepareInitramfs(
  root: string,
  pkg: AptPackage,
  kernel: GuestImage['kernel'],
  compression: InitramfsCompression,
  fetch: (pkg: AptPackage) => Promise<string>,
): Promise<GuestImage['initramfs']> {
  const name = [
    pathSafe(pkg.version),
    `${kernel.release}_${pathSafe(kernel.version)}`,
    initramfsRecipeHash(),
  ].join('-');
  const selection = await selectModules(kernel.modulesDir, GUEST_MODULES);
  const path = await cachedPath(
    join(root, 'initramfs', name, initramfsFileName(compression)),
    async (partial) => {
      const deb = await fetch(pkg);
      const unpacked = `${partial}.d`;
      try {
        await extractDeb(deb, unpacked, ['./bin/busybox']);
        const busybox = await readFile(join(unpacked, 'bin', 'busybox'));
        await writeFile(partial, buildInitramfs(busybox, selection, compression));
      } finally {
        await rm(unpacked, { recursive: true, force: true });
      }
    },
  );
  const modules = selection.modules.map((m) => modulePathInImage(selection.release, m.path));
  return { busyboxVersion: pkg.version, compression, path, modules };
}

/** A version as apt writes it in file names: the epoch's colon as `%3a`. */
function pathSafe(version: string): string {
  return version.replaceAll(':', '%3a');
}

/** The manifest's form: the image with paths relative to the cache folder. */
interface Manifest {
  readonly kernel: GuestImage['kernel'];
  readonly initramfs: GuestImage['initramfs'];
}

async function writeManifest(path: string, root: string, image: GuestImage): Promise<void> {
  const manifest: Manifest = {
    kernel: {
      ...image.kernel,
      path: relative(root, image.kernel.path),
      modulesDir: relative(root, image.kernel.modulesDir),
    },
    initramfs: { ...image.initramfs, path: relative(root, image.initramfs.path) },
  };
  await mkdir(root, { recursive: true });
  await writeFile(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

/** The image the manifest at `path` records, if it and its files are all there. */
async function readManifest(path: string, root: string): Promise<GuestImage | undefined> {
  try {
    const manifest = JSON.parse(await readFile(path, 'utf8')) as Manifest;
    // A manifest written before the image had modules names no usable image.
    const { modules } = manifest.initramfs as { modules?: unknown };
    if (typeof manifest.kernel.modulesDir !== 'string' || !Array.isArray(modules)) return undefined;
    const kernelPath = join(root, manifest.kernel.path);
    const modulesDir = join(root, manifest.kernel.modulesDir);
    const initramfsPath = join(root, manifest.initramfs.path);
    for (const path of [kernelPath, modulesDir, initramfsPath]) {
      if (!(await exists(path))) return undefined;
    }
    return {
      kernel: { ...manifest.kernel, path: kernelPath, modulesDir },
      initramfs: { ...manifest.initramfs, path: initramfsPath },
      downloaded: [],
      fromManifest: true,
    };
  } catch {
    return undefined; // missing or not a manifest
  }
}
