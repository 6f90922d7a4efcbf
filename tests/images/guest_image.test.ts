import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { prepareGuestImage } from '../../src/images/guest_image.js';
import { BUSYBOX_APPLETS, GUEST_TEST_FILE } from '../../src/images/initramfs.js';
import { GUEST_MODULES } from '../../src/images/kernel_modules.js';
import { moduleInfo } from '../../src/images/modinfo.js';
import { moduleNameOf, parseModulesDep } from '../../src/images/modules_dep.js';
import { debianGuest, withoutApt } from './debian_guest.js';

const skip = withoutApt();
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** One member of a cpio archive, through the system cpio. */
function cpioMember(archive: Uint8Array, path: string): Buffer {
  return execFileSync('cpio', ['-i', '--to-stdout', '--quiet', path], {
    input: archive,
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe('the Debian guest image', { skip }, () => {
  test('is the kernel behind linux-image-amd64, as a bzImage named after its release', async () => {
    const { kernel } = await debianGuest();
    assert.match(kernel.package, /^linux-image-\d.*-amd64$/);
    assert.equal(kernel.package, `linux-image-${kernel.release}`);
    assert.equal(basename(kernel.path), `vmlinuz-${kernel.release}`);
    const image = readFileSync(kernel.path);
    assert.equal(image.toString('latin1', 0x202, 0x206), 'HdrS');
    assert.equal(
      readFileSync(join(dirname(kernel.path), 'release'), 'utf8'),
      `${kernel.release}\n`,
    );
  });

  test('has an initramfs with busybox, its applets, /init and the test file', async () => {
    const { initramfs } = await debianGuest();
    assert.equal(initramfs.compression, 'gzip');
    const archive = gunzipSync(readFileSync(initramfs.path));
    const listing = execFileSync('cpio', ['-t', '--quiet'], { input: archive }).toString();
    for (const path of ['init', 'bin/busybox', 'bin/sh', 'dev/console', 'proc', 'sys']) {
      assert.ok(listing.split('\n').includes(path), `${path} is in the archive`);
    }
    const content = cpioMember(archive, GUEST_TEST_FILE.path.slice(1)).toString();
    assert.equal(content, GUEST_TEST_FILE.content);

    // The static busybox runs on the host too: every linked applet must be compiled in.
    const dir = mkdtempSync(join(tmpdir(), 'vmd-busybox-'));
    dirs.push(dir);
    const busybox = join(dir, 'busybox');
    writeFileSync(busybox, cpioMember(archive, 'bin/busybox'));
    chmodSync(busybox, 0o755);
    const applets = new Set(execFileSync(busybox, ['--list']).toString().split('\n'));
    for (const applet of BUSYBOX_APPLETS) assert.ok(applets.has(applet), `busybox has ${applet}`);
  });

  /** Unpacks the modules, busybox and /init of the initramfs at `path` into a new folder. */
  function unpackInitramfs(path: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'vmd-initramfs-'));
    dirs.push(dir);
    execFileSync('cpio', ['-i', '-d', '--quiet', 'lib/modules/*', 'bin/busybox', 'init'], {
      input: gunzipSync(readFileSync(path)),
      cwd: dir,
    });
    return dir;
  }

  test('has the virtio modules and all they depend on, as the kernel package has them', async () => {
    const { kernel, initramfs } = await debianGuest();
    const dir = unpackInitramfs(initramfs.path);
    const names = initramfs.modules.map(moduleNameOf);
    for (const name of [...GUEST_MODULES, 'virtio', 'virtio_ring']) {
      assert.ok(names.includes(name), `${name} is among ${names.join(', ')}`);
    }
    for (const path of initramfs.modules) {
      assert.match(path, new RegExp(`^lib/modules/${kernel.release}/kernel/.*\\.ko$`));
      const info = moduleInfo(readFileSync(join(dir, path)), path);
      assert.equal(info.name, moduleNameOf(path), `${path} is the module its name says`);
      assert.equal(info.vermagic?.split(' ')[0], kernel.release, `${path} is for this kernel`);
    }
  });

  test("/init loads the modules in an order consistent with depmod's modules.dep", async () => {
    const { kernel, initramfs } = await debianGuest();
    const dir = unpackInitramfs(initramfs.path);
    // The order /init insmods in: the module paths as they appear in the script.
    const init = readFileSync(join(dir, 'init'), 'utf8');
    const modulesDir = `lib/modules/${kernel.release}`;
    const inInit = [...init.matchAll(/^ {2}(kernel\/\S+\.ko)/gm)].map((m) => m[1] ?? '');
    assert.deepEqual(
      inInit.map((p) => `${modulesDir}/${p}`),
      initramfs.modules,
      init,
    );
    assert.match(init, new RegExp(`insmod "/${modulesDir}/\\$module"`));

    // A real depmod (the image's own busybox, run on the host) over the modules in the image.
    const shipped = readFileSync(join(dir, modulesDir, 'modules.dep'), 'utf8');
    chmodSync(join(dir, 'bin/busybox'), 0o755);
    execFileSync(join(dir, 'bin/busybox'), ['depmod', '-b', dir, kernel.release]);
    const depmod = parseModulesDep(
      readFileSync(join(dir, modulesDir, 'modules.dep'), 'utf8'),
      'depmod',
    );
    assert.equal(depmod.size, inInit.length, 'depmod sees the same modules');
    for (const [i, path] of inInit.entries()) {
      const deps = depmod.get(path);
      assert.ok(deps !== undefined, `depmod lists ${path}`);
      for (const d of deps) {
        const at = inInit.indexOf(d);
        assert.ok(at >= 0 && at < i, `${d} is loaded before ${path}; /init: ${inInit.join(' ')}`);
      }
    }
    // The modules.dep the image ships says what depmod says.
    const ours = parseModulesDep(shipped, 'image');
    for (const [path, deps] of depmod) {
      assert.deepEqual([...(ours.get(path) ?? [])].sort(), [...deps].sort(), path);
    }
  });

  test('a second run finds everything in the cache and downloads nothing', async () => {
    const first = await debianGuest();
    const again = await prepareGuestImage();
    assert.deepEqual(again.downloaded, []);
    assert.equal(again.kernel.path, first.kernel.path);
    assert.equal(again.initramfs.path, first.initramfs.path);
  });

  test('without apt, the last image made is used', async () => {
    const first = await debianGuest();
    const path = process.env.PATH;
    const empty = mkdtempSync(join(tmpdir(), 'vmd-nopath-'));
    dirs.push(empty);
    process.env.PATH = empty; // apt-cache cannot be found
    try {
      const offline = await prepareGuestImage();
      assert.equal(offline.fromManifest, true);
      assert.equal(offline.kernel.path, first.kernel.path);
      assert.equal(offline.initramfs.path, first.initramfs.path);
      await assert.rejects(
        prepareGuestImage({ cacheDir: join(empty, 'cache') }),
        /^ToolError: apt-cache is not installed \(Debian: apt-get install apt\)$/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
