/**
 * The kernel modules the test guest loads, taken from the kernel package's
 * `/lib/modules/RELEASE` tree: the virtio PCI transport and the block and entropy drivers
 * (Debian builds them as modules), with everything they depend on, uncompressed (busybox
 * insmod takes plain ELF objects), in an order they can be loaded in.
 *
 * Dependencies come from the tree's `modules.dep` when it has one. A kernel package does not
 * ship it (Debian's postinst runs depmod), so otherwise they come from each module's
 * `.modinfo` `depends=`, the list modpost recorded when the kernel was built, which depmod's
 * symbol resolution reproduces.
 */

import { readFile, readdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { moduleInfo } from './modinfo.js';
import {
  ModulesDepError,
  isModuleFile,
  loadOrder,
  moduleNameOf,
  parseModulesDep,
  transitiveModulesDep,
} from './modules_dep.js';
import type { ModulesDep } from './modules_dep.js';
import { exists } from './cache.js';
import { runTool } from './tool.js';

/**
 * The modules the guest loads, by name: the virtio PCI transport (legacy and modern), the
 * virtio block device and the virtio entropy source (`hw_random/virtio-rng.ko`).
 */
export const GUEST_MODULES: readonly string[] = ['virtio_pci', 'virtio_blk', 'virtio_rng'];

/** One module ready for the initramfs. */
export interface KernelModule {
  /** Module name, e.g. `virtio_rng`. */
  readonly name: string;
  /** Path relative to `/lib/modules/RELEASE`, without compression suffix. */
  readonly path: string;
  /** The plain ELF object. */
  readonly data: Uint8Array;
}

/** The modules to load and their dependency list. */
export interface ModuleSelection {
  /** The kernel release, the name of the `/lib/modules` folder. */
  readonly release: string;
  /** The modules in load order: each after everything it depends on. */
  readonly modules: readonly KernelModule[];
  /** modules.dep for these modules (paths without compression suffix). */
  readonly modulesDep: ModulesDep;
}

/**
 * Selects modules `wanted` (names) and their dependencies from `modulesDir`, a
 * `/lib/modules/RELEASE` folder (its name is the release). Modules compressed with xz, zstd
 * or gzip are decompressed. Each module's vermagic must name the release.
 */
export async function selectModules(
  modulesDir: string,
  wanted: readonly string[],
): Promise<ModuleSelection> {
  const release = basename(modulesDir);
  const depFile = join(modulesDir, 'modules.dep');
  const loaded = new Map<string, Uint8Array>();
  const read = async (path: string): Promise<Uint8Array> => {
    let data = loaded.get(path);
    if (data === undefined) {
      data = await decompressModule(join(modulesDir, path));
      loaded.set(path, data);
    }
    return data;
  };

  const shipped = await exists(depFile);
  const dep = shipped
    ? parseModulesDep(await readFile(depFile, 'utf8'), depFile)
    : await modulesDepFromModinfo(modulesDir, wanted, read);
  const order = loadOrder(dep, wanted, shipped ? depFile : modulesDir);
  const modules: KernelModule[] = [];
  for (const path of order) {
    const data = await read(path);
    const info = moduleInfo(data, join(modulesDir, path));
    if (info.vermagic !== undefined && info.vermagic.split(' ')[0] !== release) {
      throw new ModulesDepError(
        `${join(modulesDir, path)}: built for ${info.vermagic.split(' ')[0] ?? '?'}, not ${release}`,
      );
    }
    modules.push({ name: moduleNameOf(path), path: plainPath(path), data });
  }
  const plain = new Map<string, string[]>();
  for (const path of order) plain.set(plainPath(path), (dep.get(path) ?? []).map(plainPath));
  return { release, modules, modulesDep: transitiveModulesDep(plain, order.map(plainPath)) };
}

/**
 * Direct dependencies of `wanted` and of everything they need, from each module's
 * `depends=`; modules are found by name anywhere under `modulesDir`.
 */
async function modulesDepFromModinfo(
  modulesDir: string,
  wanted: readonly string[],
  read: (path: string) => Promise<Uint8Array>,
): Promise<ModulesDep> {
  const byName = new Map<string, string>();
  for (const entry of await readdir(modulesDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !isModuleFile(entry.name)) continue;
    const path = relative(modulesDir, join(entry.parentPath, entry.name));
    const name = moduleNameOf(path);
    const other = byName.get(name);
    if (other !== undefined) {
      throw new ModulesDepError(`${modulesDir}: module ${name} is both ${other} and ${path}`);
    }
    byName.set(name, path);
  }
  const dep = new Map<string, string[]>();
  const pending = wanted.map((name) => ({ name, by: undefined as string | undefined }));
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const path = byName.get(next.name.replaceAll('-', '_'));
    if (path === undefined) {
      const by = next.by === undefined ? '' : ` (needed by ${next.by})`;
      throw new ModulesDepError(`${modulesDir}: no module named ${next.name}${by}`);
    }
    if (dep.has(path)) continue;
    const info = moduleInfo(await read(path), join(modulesDir, path));
    const deps: string[] = [];
    for (const d of info.depends) {
      const depPath = byName.get(d);
      if (depPath === undefined) {
        throw new ModulesDepError(`${modulesDir}: no module named ${d} (needed by ${path})`);
      }
      deps.push(depPath);
      pending.push({ name: d, by: path });
    }
    // As in modules.dep, the dependency to load first comes last: loadOrder then loads them
    // in depends= order.
    dep.set(path, deps.reverse());
  }
  return dep;
}

/** `path` without a compression suffix after `.ko`. */
function plainPath(path: string): string {
  return path.replace(/\.ko\.(?:xz|zst|gz)$/, '.ko');
}

/** The plain ELF object in module file `path` (`.ko`, `.ko.xz`, `.ko.zst` or `.ko.gz`). */
export async function decompressModule(path: string): Promise<Uint8Array> {
  const data = await readFile(path);
  if (path.endsWith('.ko.xz')) return (await runTool('xz', ['-dc'], { input: data })).stdout;
  if (path.endsWith('.ko.zst')) return (await runTool('zstd', ['-dc'], { input: data })).stdout;
  if (path.endsWith('.ko.gz')) return gunzipSync(data);
  return data;
}
