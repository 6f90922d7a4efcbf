import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/index.js';
import type { VmConfig } from '../config/types.js';
import { accountsFromText } from './accounts.js';
import { ERRNO, VMD_ERRORS } from './codes.js';
import { startParams } from './message_samples.js';
import type { StartVmParams } from './messages.js';
import { Registry } from './registry.js';
import {
  buildSpec,
  checkImages,
  checkNewConfig,
  configFromRequest,
  instanceFromRequest,
  mergeInstance,
  StartError,
} from './vm_spec.js';

const accounts = accountsFromText(
  'joe:x:1000:1000::/:/bin/sh\nann:x:1001:1001::/:/bin/sh',
  'vmusers:x:900:joe',
);
const joe = { uid: 1000, privileged: false };
const ann = { uid: 1001, privileged: false };
const root = { uid: 0, privileged: true };

/** Parses vm.conf text with every image path taken as it is written. */
function parse(text: string): VmConfig[] {
  const result = parseConfigText(text, {
    realpath: (p) => p,
    probeDiskFormat: () => 'raw',
    resolveUser: (name) => ({ joe: 1000, ann: 1001 })[name],
    resolveGroup: (name) => ({ vmusers: 900 })[name],
  });
  assert.deepEqual(result.errors, []);
  return result.config.vms;
}

function params(
  name: string,
  change: Partial<StartVmParams> = {},
): StartVmParams & { name: string } {
  return { name, ...startParams({ name }, change) };
}

const TEMPLATE = `vm "web" {
  memory 1G
  boot /boot/vmlinuz
  initrd /boot/initrd.img
  cmdline "console=ttyS0"
  disk /var/lib/vmd/web.img
  local interface
  owner joe:vmusers
  allow instance { disk, memory, owner :vmusers }
}
`;

test('mergeInstance(): settings inherited from the parent, disks never', () => {
  const [web, web2] = parse(
    `${TEMPLATE}vm "web" instance "web2" {\n  disk /var/lib/vmd/web2.img\n  cmdline "quiet"\n}\n`,
  );
  assert.ok(web !== undefined && web2 !== undefined);
  const merged = mergeInstance(web2, web);
  assert.equal(merged.memory, 1024 ** 3);
  assert.equal(merged.boot, '/boot/vmlinuz');
  assert.equal(merged.initrd, '/boot/initrd.img');
  assert.equal(merged.cmdline, 'quiet', 'its own command line wins');
  assert.deepEqual(merged.disks, [{ path: '/var/lib/vmd/web2.img', format: 'raw' }]);
  assert.equal(merged.interfaces.length, 1);
  assert.deepEqual(merged.owner, { uid: 1000, gid: 900 });
  assert.equal(merged.allowInstance.disk, false, 'permissions pass on only with the instance flag');
});

test('instanceFromRequest(): allow instance owner and flags decide, with vmd errors', () => {
  const registry = new Registry();
  const [web] = parse(TEMPLATE);
  assert.ok(web !== undefined);
  const parent = registry.add(web, true);
  const attempt = (who: typeof joe, change: Partial<StartVmParams>): number => {
    try {
      instanceFromRequest(params('web3', change), parent, who, accounts);
      return 0;
    } catch (error) {
      assert.ok(error instanceof StartError, String(error));
      return error.code;
    }
  };
  assert.equal(
    attempt(ann, {}),
    ERRNO.ENAMETOOLONG,
    'ann is not in vmusers (vmd answers ENAMETOOLONG)',
  );
  assert.equal(attempt(joe, { memory: 2 * 1024 ** 3 }), 0, 'memory is allowed');
  assert.equal(attempt(joe, { boot: '/boot/other' }), ERRNO.EPERM, 'boot is not');
  assert.equal(attempt(joe, { cmdline: 'single' }), ERRNO.EPERM, 'the command line goes with boot');
  assert.equal(attempt(joe, { interfaces: [{ local: true, switch: null }] }), ERRNO.EPERM);
  assert.equal(attempt(root, { boot: '/boot/other' }), 0, 'root may change everything');
  assert.equal(
    attempt(root, { disks: [{ path: '/var/lib/vmd/web.img', format: 'raw' }] }),
    ERRNO.EBUSY,
    "the parent's disk",
  );
  const made = instanceFromRequest(
    params('web3', { memory: 2 * 1024 ** 3 }),
    parent,
    joe,
    accounts,
  );
  assert.equal(made.memory, 2 * 1024 ** 3);
  assert.equal(made.parent, 'web');
  assert.deepEqual(
    made.owner,
    { uid: 1000, gid: 900 },
    'the instance is its creator’s, with the group',
  );
  assert.deepEqual(made.disks, []);
});

test('checkNewConfig(): something to boot; initrd and cmdline need a kernel', () => {
  const code = (change: Partial<StartVmParams>): number => {
    try {
      checkNewConfig(configFromRequest(params('n', change), 0));
      return 0;
    } catch (error) {
      return error instanceof StartError ? error.code : -1;
    }
  };
  assert.equal(code({}), ERRNO.EINVAL);
  assert.equal(code({ cdrom: '/iso' }), 0);
  assert.equal(code({ cdrom: '/iso', cmdline: 'quiet' }), ERRNO.EINVAL);
  assert.equal(
    code({ boot: '/k', interfaces: [{ local: true, switch: null }], interfaceCount: 5 }),
    ERRNO.EINVAL,
  );
});

test('checkImages(): vmd codes for a missing kernel, BIOS, CD-ROM or disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-spec-'));
  try {
    const kernel = join(dir, 'kernel');
    writeFileSync(kernel, 'k');
    mkdirSync(join(dir, 'iso'));
    const registry = new Registry();
    const spec = (change: Partial<StartVmParams>) =>
      buildSpec(
        registry.add(configFromRequest(params(`v${registry.all().length}`, change), 0), false),
        [],
      );
    const code = (change: Partial<StartVmParams>): number => {
      try {
        checkImages(spec(change));
        return 0;
      } catch (error) {
        return error instanceof StartError ? error.code : -1;
      }
    };
    assert.equal(code({ boot: kernel }), 0);
    assert.equal(code({ boot: join(dir, 'nokernel') }), ERRNO.ENOENT);
    assert.equal(code({ boot: kernel, initrd: join(dir, 'noinitrd') }), ERRNO.ENOENT);
    assert.equal(
      code({ boot: kernel, cdrom: join(dir, 'none.iso') }),
      VMD_ERRORS.VMD_CDROM_MISSING,
    );
    assert.equal(code({ boot: kernel, cdrom: join(dir, 'iso') }), VMD_ERRORS.VMD_CDROM_INVALID);
    assert.equal(
      code({ boot: kernel, disks: [{ path: join(dir, 'no.img'), format: 'raw' }] }),
      VMD_ERRORS.VMD_DISK_MISSING,
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('buildSpec(): a kernel for this boot replaces the configured initrd and command line', () => {
  const registry = new Registry();
  const [web] = parse(TEMPLATE);
  assert.ok(web !== undefined);
  const entry = registry.add(web, true);
  const lladdrs: string[] = [];
  const first = buildSpec(entry, lladdrs);
  assert.equal(first.initrd, '/boot/initrd.img');
  assert.equal(first.cmdline, 'console=ttyS0');
  assert.equal(first.interfaces.length, 1);
  assert.match(first.interfaces[0]?.lladdr ?? '', /^fe:e1:ba:d0:[0-9a-f]{2}:[0-9a-f]{2}$/);
  entry.bootOverride = {
    boot: '/boot/test',
    initrd: null,
    cmdline: null,
    bootDevice: null,
    namedBy: null,
  };
  const second = buildSpec(entry, lladdrs);
  assert.equal(second.boot, '/boot/test');
  assert.equal(second.initrd, null);
  assert.equal(second.cmdline, null);
  assert.equal(
    second.interfaces[0]?.lladdr,
    first.interfaces[0]?.lladdr,
    'the address survives a restart',
  );
});
