/**
 * `modules.dep`, the dependency list depmod(8) writes into `/lib/modules/RELEASE/`
 * (modules.dep(5)): one line per module, its path relative to that folder, a colon, then the
 * paths of every module it needs, directly or not, separated by spaces, listed in the reverse
 * of the order they must be loaded (modprobe(8) loads the last one first).
 *
 * ```text
 * kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
 * ```
 *
 * Here it is parsed, written for a subset of modules, and turned into a load order: every
 * module after all the modules it depends on.
 */

/** A module's path (relative to `/lib/modules/RELEASE`) to the paths of its dependencies. */
export type ModulesDep = ReadonlyMap<string, readonly string[]>;

/** A modules.dep that cannot be read, or dependencies that cannot be put in order. */
export class ModulesDepError extends Error {
  override name = 'ModulesDepError';
}

/** Compression suffixes kmod accepts after `.ko`. */
const MODULE_FILE = /\.ko(?:\.(?:xz|zst|gz))?$/;

/** True when `path` names a module file (`.ko`, or `.ko.xz`, `.ko.zst`, `.ko.gz`). */
export function isModuleFile(path: string): boolean {
  return MODULE_FILE.test(path);
}

/**
 * The module name the kernel and modprobe use for module file `path`: the file name without
 * `.ko` and compression suffix, with `-` as `_` (`hw_random/virtio-rng.ko` is `virtio_rng`).
 */
export function moduleNameOf(path: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1);
  return file.replace(MODULE_FILE, '').replaceAll('-', '_');
}

/**
 * Parses modules.dep text; `source` heads error messages. Blank lines and `#` comments are
 * skipped. Every line must be `path:` followed by paths, and no module may appear twice.
 */
export function parseModulesDep(text: string, source: string): Map<string, string[]> {
  const dep = new Map<string, string[]>();
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ModulesDepError(`${where}: expected "module.ko: dependencies"`);
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .split(/\s+/)
      .filter((d) => d !== '');
    for (const p of [path, ...deps]) {
      if (!isModuleFile(p)) throw new ModulesDepError(`${where}: "${p}" is not a module file`);
    }
    if (dep.has(path)) throw new ModulesDepError(`${where}: ${path} is listed twice`);
    dep.set(path, deps);
  }
  return dep;
}

/** modules.dep text for `dep`, one line per module in the map's order. */
export function formatModulesDep(dep: ModulesDep): string {
  let text = '';
  for (const [path, deps] of dep) text += `${[`${path}:`, ...deps].join(' ')}\n`;
  return text;
}

/** The path of every module in `dep` by module name; two paths with one name are an error. */
export function pathsByName(dep: ModulesDep, source: string): Map<string, string> {
  const byName = new Map<string, string>();
  for (const path of dep.keys()) {
    const name = moduleNameOf(path);
    const other = byName.get(name);
    if (other !== undefined) {
      throw new ModulesDepError(`${source}: module ${name} is both ${other} and ${path}`);
    }
    byName.set(name, path);
  }
  return byName;
}

/**
 * The modules named `wanted` and everything they depend on, as paths in an order they can be
 * loaded in: each module after all of its dependencies, the wanted modules in the order
 * given, dependencies in the order their lines list them. A module that is not in `dep`, a
 * dependency without a line of its own, and a dependency cycle are errors.
 */
export function loadOrder(dep: ModulesDep, wanted: readonly string[], source: string): string[] {
  const byName = pathsByName(dep, source);
  const order: string[] = [];
  const done = new Set<string>();
  const visiting: string[] = [];
  const visit = (path: string): void => {
    if (done.has(path)) return;
    if (visiting.includes(path)) {
      const cycle = [...visiting.slice(visiting.indexOf(path)), path].map(moduleNameOf);
      throw new ModulesDepError(`${source}: dependency cycle ${cycle.join(' -> ')}`);
    }
    const deps = dep.get(path);
    if (deps === undefined) {
      const by = visiting.at(-1);
      throw new ModulesDepError(
        `${source}: ${by === undefined ? '' : `${by} depends on `}${path}, which has no line`,
      );
    }
    visiting.push(path);
    // modules.dep lists dependencies last-loaded first: walk them the other way round.
    for (const d of [...deps].reverse()) visit(d);
    visiting.pop();
    done.add(path);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replaceAll('-', '_'));
    if (path === undefined) throw new ModulesDepError(`${source}: no module named ${name}`);
    visit(path);
  }
  return order;
}

/**
 * modules.dep entries, as depmod writes them, for modules whose direct dependencies are
 * `direct` (paths, e.g. from each module's `depends=`): each line lists the module's
 * dependencies transitively, in the reverse of their place in `order`, a load order of the
 * same modules (see {@link loadOrder}).
 */
export function transitiveModulesDep(direct: ModulesDep, order: readonly string[]): ModulesDep {
  const position = new Map(order.map((path, i) => [path, i]));
  const result = new Map<string, string[]>();
  for (const path of order) {
    const all = new Set<string>();
    const pending = [...(direct.get(path) ?? [])];
    for (let d = pending.pop(); d !== undefined; d = pending.pop()) {
      if (all.has(d)) continue;
      all.add(d);
      pending.push(...(direct.get(d) ?? []));
    }
    const rank = (p: string): number => position.get(p) ?? -1;
    result.set(
      path,
      [...all].sort((a, b) => rank(b) - rank(a)),
    );
  }
  return result;
}
