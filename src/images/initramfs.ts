/**
 * The test guest's initramfs: Debian's static busybox as `/bin/busybox` with a link per applet
 * the tests use, the device nodes the kernel needs before devtmpfs is mounted, an `/init`
 * script, and a file of known content for checksum tests. The archive is our own newc cpio
 * (`cpio.ts`), optionally gzipped; the kernel accepts both.
 */

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { writeCpio } from './cpio.js';
import type { CpioEntry } from './cpio.js';

/** The line `/init` prints just before it starts the interactive shell on the console. */
export const GUEST_SHELL_MARKER = 'vmd-guest: shell ready';

/** The line `/init` prints first, followed by ", kernel " and the kernel release. */
export const GUEST_INIT_MARKER = 'vmd-guest: init reached';

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
  ...['insmod', 'rmmod', 'lsmod', 'poweroff', 'reboot', 'halt'],
];

/**
 * `/init`, run by the kernel as process 1 through busybox sh. Kernel command-line words
 * `key=value` the kernel does not know arrive as environment variables; `vmd_action=poweroff`
 * or `vmd_action=reboot` ends the VM after the first marker instead of starting a shell.
 */
export const INIT_SCRIPT = `#!/bin/sh
# /init of the vmd test guest: mount the kernel's file systems, say so on the console, then
# give the console an interactive shell (or power off or reboot, if vmd_action= says so).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev || echo "vmd-guest: devtmpfs not mounted, keeping the static /dev"
echo "${GUEST_INIT_MARKER}, kernel $(uname -r)"
case "$vmd_action" in
  poweroff) poweroff -f ;;
  reboot) reboot -f ;;
esac
echo "${GUEST_SHELL_MARKER}"
# setsid + cttyhack make the console the shell's controlling terminal, so ^C works.
exec setsid cttyhack sh
`;

/** How the archive is compressed: gzip (smaller file) or not at all (nothing to inflate). */
export type InitramfsCompression = 'gzip' | 'none';

/** The file name of the initramfs for `compression`. */
export function initramfsFileName(compression: InitramfsCompression): string {
  return compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio';
}

/** The archive's entries around `busybox`, the static busybox binary. */
export function initramfsEntries(busybox: Uint8Array): CpioEntry[] {
  const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');
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
    { type: 'file', path: 'init', data: text(INIT_SCRIPT), mode: 0o755 },
  ];
}

/** Builds the initramfs around `busybox`: a newc archive, gzipped unless told otherwise. */
export function buildInitramfs(
  busybox: Uint8Array,
  compression: InitramfsCompression = 'gzip',
): Uint8Array {
  const cpio = writeCpio(initramfsEntries(busybox));
  return compression === 'gzip' ? gzipSync(cpio, { level: 9 }) : cpio;
}

/** Bump when the archive changes in a way the entries do not show (the cpio writer, say). */
const RECIPE_VERSION = 1;

/**
 * A short hash of everything in the image that is not busybox (the layout, `/init`, the test
 * file, {@link RECIPE_VERSION}), so that a cached image is rebuilt when any of it changes.
 */
export function initramfsRecipeHash(): string {
  const marker = new Uint8Array(Buffer.from('busybox placeholder'));
  const recipe = initramfsEntries(marker).map((e) => ({
    ...e,
    data: e.type === 'file' ? Buffer.from(e.data).toString('base64') : undefined,
  }));
  return createHash('sha256')
    .update(JSON.stringify({ version: RECIPE_VERSION, recipe }))
    .digest('hex')
    .slice(0, 12);
}
