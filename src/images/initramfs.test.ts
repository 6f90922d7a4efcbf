import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { SUPERVISOR_PATH, SUPERVISOR_SCRIPT, initScript } from './guest_init.js';
import {
  BUSYBOX_APPLETS,
  GUEST_MODULE_FAILURE,
  GUEST_SHELL_MARKER,
  GUEST_SHUTDOWN_MARKER,
  GUEST_TEST_FILE,
  buildInitramfs,
  initramfsRecipeHash,
} from './initramfs.js';
import type { InitramfsModules } from './initramfs.js';
import { formatModulesDep } from './modules_dep.js';

/** Runs the system cpio with `archive` on standard input; returns its standard output. */
function cpio(args: string[], archive: Uint8Array): string {
  const env = { ...process.env, LC_ALL: 'C', TZ: 'UTC' };
  return execFileSync('cpio', args, { input: archive, env }).toString('utf8').trimEnd();
}

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const RELEASE = '6.1.0-test-amd64';
const MODULES: InitramfsModules = {
  release: RELEASE,
  modules: [
    { path: 'kernel/drivers/virtio/virtio_ring.ko', data: bytes('\x7fELF ring') },
    { path: 'kernel/drivers/virtio/virtio.ko', data: bytes('\x7fELF virtio') },
    { path: 'kernel/drivers/char/hw_random/virtio-rng.ko', data: bytes('\x7fELF rng') },
  ],
  modulesDep: new Map([
    ['kernel/drivers/virtio/virtio_ring.ko', []],
    ['kernel/drivers/virtio/virtio.ko', ['kernel/drivers/virtio/virtio_ring.ko']],
    [
      'kernel/drivers/char/hw_random/virtio-rng.ko',
      ['kernel/drivers/virtio/virtio.ko', 'kernel/drivers/virtio/virtio_ring.ko'],
    ],
  ]),
};

describe('the guest initramfs', () => {
  const busybox = bytes('\x7fELF stand-in for busybox');
  const plain = buildInitramfs(busybox, MODULES, 'none');
  const member = (path: string): string =>
    execFileSync('cpio', ['-i', '--to-stdout', '--quiet', path], { input: plain }).toString();

  test('holds busybox, its applet links, the scripts, the device nodes and the test file', () => {
    const listing = cpio(['-t', '-v', '--quiet'], plain);
    assert.match(listing, /^-rwxr-xr-x .* bin\/busybox$/m);
    assert.match(listing, /^-rwxr-xr-x .* init$/m);
    assert.match(listing, new RegExp(`^-rwxr-xr-x .* ${SUPERVISOR_PATH}$`, 'm'));
    assert.match(listing, /^crw------- +1 root +root +5, +1 .* dev\/console$/m);
    assert.match(listing, /^drwxrwxrwt .* tmp$/m);
    for (const applet of ['sh', 'mount', 'sha256sum', 'poweroff', 'cttyhack', 'insmod', '[']) {
      assert.ok(listing.includes(` bin/${applet} -> busybox\n`), applet);
    }
    const links = listing.split('\n').filter((l) => l.endsWith(' -> busybox'));
    assert.equal(links.length, BUSYBOX_APPLETS.length);
    for (const dir of ['proc', 'sys', 'dev', 'etc', 'bin', `lib/modules/${RELEASE}/kernel`]) {
      assert.match(listing, new RegExp(` ${dir}$`, 'm'));
    }
  });

  test('holds the modules and their modules.dep under /lib/modules/RELEASE', () => {
    for (const m of MODULES.modules) {
      assert.equal(member(`lib/modules/${RELEASE}/${m.path}`), Buffer.from(m.data).toString());
    }
    assert.equal(
      member(`lib/modules/${RELEASE}/modules.dep`),
      formatModulesDep(MODULES.modulesDep),
    );
  });

  test('gzip and uncompressed archives hold the same bytes, and the test file its content', () => {
    const gz = buildInitramfs(busybox, MODULES, 'gzip');
    assert.deepEqual(new Uint8Array(gunzipSync(gz)), new Uint8Array(plain));
    assert.equal(member(GUEST_TEST_FILE.path.slice(1)), GUEST_TEST_FILE.content);
    const sum = execFileSync('sha256sum', { input: GUEST_TEST_FILE.content }).toString();
    assert.equal(sum.split(' ')[0], GUEST_TEST_FILE.sha256);
  });

  test('the recipe hash is stable and changes with the modules wanted', () => {
    assert.match(initramfsRecipeHash(), /^[0-9a-f]{12}$/);
    assert.equal(initramfsRecipeHash(), initramfsRecipeHash());
    assert.notEqual(initramfsRecipeHash(['virtio_pci']), initramfsRecipeHash());
  });
});

describe('/init', () => {
  const paths = MODULES.modules.map((m) => m.path);
  const init = initScript(RELEASE, paths);

  test('is valid shell that mounts proc, sys and devtmpfs and hands over to the supervisor', () => {
    execFileSync('sh', ['-n'], { input: init }); // syntax check only
    assert.match(init, /^#!\/bin\/sh\n/);
    assert.match(init, /mount -t proc proc \/proc/);
    assert.match(init, /mount -t devtmpfs devtmpfs \/dev/);
    assert.match(init, new RegExp(`exec setsid cttyhack sh /${SUPERVISOR_PATH}\\n$`));
  });

  test('loads the modules in the order given, reporting a failure without stopping', () => {
    const list = /for module in \\\n([\s\S]*?); do\n(.*)\n/.exec(init);
    assert.ok(list !== null, init);
    assert.deepEqual(
      (list[1] ?? '').split('\\\n').map((l) => l.trim()),
      paths,
      'the modules, one a line, in load order',
    );
    assert.equal(
      list[2],
      `  insmod "/lib/modules/${RELEASE}/$module" || echo "${GUEST_MODULE_FAILURE} $module"`,
    );
    // insmod before the shell is started, so tests find the drivers there.
    assert.ok(init.indexOf('insmod') < init.indexOf('exec setsid'));
    execFileSync('sh', ['-n'], { input: initScript(RELEASE, []) });
  });

  test('refuses paths that would need quoting', () => {
    assert.throws(() => initScript(RELEASE, ['kernel/a b.ko']), /unsafe path in \/init/);
    assert.throws(() => initScript('6.1$(reboot)', []), /unsafe path in \/init/);
  });
});

describe('the supervisor (process 1 after /init)', () => {
  test('is valid shell that traps the signals init gets and powers off after sync', () => {
    execFileSync('sh', ['-n'], { input: SUPERVISOR_SCRIPT });
    for (const [signal, action] of [
      ['INT', 'poweroff'],
      ['USR2', 'poweroff'],
      ['USR1', 'halt'],
      ['TERM', 'reboot'],
    ]) {
      assert.match(
        SUPERVISOR_SCRIPT,
        new RegExp(`^trap 'vmd_shutdown ${action} SIG${signal}' ${signal}$`, 'm'),
      );
    }
    assert.match(SUPERVISOR_SCRIPT, /sync\n {2}"\$1" -f\n/);
    assert.ok(SUPERVISOR_SCRIPT.includes(`${GUEST_SHUTDOWN_MARKER} ($1 on $2)`));
  });

  test('runs the console shell as a job it waits for, with job control, in a loop', () => {
    assert.match(SUPERVISOR_SCRIPT, /^set -m$/m);
    assert.match(SUPERVISOR_SCRIPT, /^while :; do\n {2}echo "vmd-guest: shell ready"$/m);
    assert.ok(SUPERVISOR_SCRIPT.includes(`echo "${GUEST_SHELL_MARKER}"`));
    assert.match(SUPERVISOR_SCRIPT, /\(setsid cttyhack sh; exit \$\?\) &\n/);
    assert.match(SUPERVISOR_SCRIPT, /wait "\$shell"/);
  });
});
