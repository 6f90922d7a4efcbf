/**
 * The test guest's initramfs: Debian's static busybox as `/bin/busybox` with a link per applet
 * the tests use, the device nodes the kernel needs before devtmpfs is mounted, kernel modules
 * under `/lib/modules/RELEASE` with their `modules.dep`, the `/init` and supervisor scripts
 * (`guest_init.ts`), and a file of known content for checksum tests. The archive is our own
 * newc cpio (`cpio.ts`), optionally gzipped; the kernel accepts both.
 */

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { writeCpio } from './cpio.js';
import type { CpioEntry } from './cpio.js';
import { SUPERVISOR_PATH, SUPERVISOR_SCRIPT, initScript } from './guest_init.js';
import { GUEST_MODULES } from './kernel_modules.js';
import type { ModuleSelection } from './kernel_modules.js';
import { formatModulesDep } from './modules_dep.js';

export {
  GUEST_INIT_MARKER,
  GUEST_MODULE_FAILURE,
  GUEST_SHELL_MARKER,
  GUEST_SHUTDOWN_MARKER,
} from './guest_init.js';

/** A file of fixed content in the image, for tests that checksum it inside the guest. */
export const GUEST_TEST_FILE: {
  readonly path: string;
  readonly content: string;
  readonly sha256: string;
  readonly md5: string;
} = (() => {
  const content =
    'vmd guest test file\n' +
    'If the guest reads this back with the right checksum, the initramfs arrived intact.\n';
  const digest = (algorithm: string): string => createHash(algorithm).update(content).digest('hex');
  return { path: '/etc/vmd-test.txt', content, sha256: digest('sha256'), md5: digest('md5') };
})();

/** The busybox applets linked into /bin (busybox-static 1.35 has all of them). */
export const BUSYBOX_APPLETS: readonly string[] = [
  ...['sh', 'ash', 'cttyhack', 'setsid', 'env', 'test', '[', 'true', 'false', 'printf', 'echo'],
  ...['mount', 'umount', 'mkdir', 'mknod', 'ln', 'rm', 'cp', 'mv', 'chmod', 'touch', 'ls'],
  ...['cat', 'head', 'tail', 'wc', 'cut', 'tr', 'grep', 'sed', 'awk', 'sort', 'uniq', 'find'],
  ...['od', 'hexdump', 'dd', 'cmp', 'sha256sum', 'md5sum', 'basename', 'dirname', 'readlink'],
  ...['uname', 'dmesg', 'ps', 'kill', 'sleep', 'date', 'uptime', 'free', 'df', 'sync', 'stty'],
  ...['insmod', 'rmmod', 'lsmod', 'modprobe', 'modinfo', 'poweroff', 'reboot', 'halt'],
  ...['blockdev', 'stat', 'seq', 'sysctl', 'xxd'],
];

/** How the archive is compressed: gzip (smaller file) or not at all (nothing to inflate). */
export type InitramfsCompression = 'gzip' | 'none';

/** The file name of the initramfs for `compression`. */
export function initramfsFileName(compression: InitramfsCompression): string {
  return compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio';
}

/** The kernel modules of an initramfs: a {@link ModuleSelection}'s parts the image holds. */
export type InitramfsModules = Pick<ModuleSelection, 'release' | 'modulesDep'> & {
  readonly modules: readonly { readonly path: string; readonly data: Uint8Array }[];
};

/** Where a module of `release` at `path` (relative to its modules folder) sits in the image. */
export function modulePathInImage(release: string, path: string): string {
  return `lib/modules/${release}/${path}`;
}

/** The archive's entries around `busybox` (the static busybox binary) and `modules`. */
export function initramfsEntries(busybox: Uint8Array, modules: InitramfsModules): CpioEntry[] {
  const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');
  const moduleFiles = modules.modules.map((m) => ({
    path: modulePathInImage(modules.release, m.path),
    data: m.data,
  }));
  const modulesDep = modulePathInImage(modules.release, 'modules.dep');
  return [
    ...['bin', 'dev', 'etc', 'proc', 'sys', 'root'].map((path): CpioEntry => ({
      type: 'dir',
      path,
    })),
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    ...BUSYBOX_APPLETS.map((applet): CpioEntry => ({
      type: 'symlink',
      path: `bin/${applet}`,
      target: 'busybox',
    })),
    // The kernel opens /dev/console for init's stdio before anything is mounted.
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'char', path: 'dev/ttyS0', major: 4, minor: 64 },
    { type: 'file', path: GUEST_TEST_FILE.path, data: text(GUEST_TEST_FILE.content) },
    ...foldersOf([...moduleFiles.map((m) => m.path), modulesDep, SUPERVISOR_PATH]),
    ...moduleFiles.map((m): CpioEntry => ({ type: 'file', ...m })),
    { type: 'file', path: modulesDep, data: text(formatModulesDep(modules.modulesDep)) },
    {
      type: 'file',
      path: 'init',
      data: text(
        initScript(
          modules.release,
          modules.modules.map((m) => m.path),
        ),
      ),
      mode: 0o755,
    },
    { type: 'file', path: SUPERVISOR_PATH, data: text(SUPERVISOR_SCRIPT), mode: 0o755 },
  ];
}

/** Folder entries for the parents of `paths` not made elsewhere, each before its children. */
function foldersOf(paths: readonly string[]): CpioEntry[] {
  const made = new Set(['bin', 'dev', 'etc', 'proc', 'sys', 'root', 'tmp']);
  const folders: CpioEntry[] = [];
  for (const path of paths) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join('/');
      if (made.has(folder)) continue;
      made.add(folder);
      folders.push({ type: 'dir', path: folder });
    }
  }
  return folders;
}

/** Builds the initramfs: a newc archive, gzipped unless told otherwise. */
export function buildInitramfs(
  busybox: Uint8Array,
  modules: InitramfsModules,
  compression: InitramfsCompression = 'gzip',
): Uint8Array {
  const cpio = writeCpio(initramfsEntries(busybox, modules));
  return compression === 'gzip' ? gzipSync(cpio, { level: 9 }) : cpio;
}

/** Bump when the archive changes in a way the entries do not show (the cpio writer, say). */
const RECIPE_VERSION = 2;

/**
 * A short hash of everything in the image that does not come from a package (the layout,
 * `/init`, the supervisor, the test file, the names of the modules `wanted`,
 * {@link RECIPE_VERSION}), so that a cached image is rebuilt when any of it changes. The
 * packages' versions name the cache folder beside it.
 */
export function initramfsRecipeHash(wanted: readonly string[] = GUEST_MODULES): string {
  const placeholder = new Uint8Array(Buffer.from('package placeholder'));
  const modules: InitramfsModules = {
    release: 'RELEASE',
    modules: wanted.map((name) => ({ path: `kernel/${name}.ko`, data: placeholder })),
    modulesDep: new Map(wanted.map((name) => [`kernel/${name}.ko`, []])),
  };
  const recipe = initramfsEntries(placeholder, modules).map((e) => ({
    ...e,
    data: e.type === 'file' ? Buffer.from(e.data).toString('base64') : undefined,
  }));
  return createHash('sha256')
    .update(JSON.stringify({ version: RECIPE_VERSION, recipe }))
    .digest('hex')
    .slice(0, 12);
}
