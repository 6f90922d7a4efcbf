import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from './index.js';
import { newVmConfig } from './types.js';

test('newVmConfig(): what a `vm` block parses to before its options', () => {
  // Only the kernel, which registration requires (vmd's "no kernel or disk/cdrom specified").
  const r = parseConfigText('vm "plain" {\n  boot /bsd\n}\n', {
    realpath: (path) => path,
    probeDiskFormat: () => 'raw',
  });
  assert.deepEqual(r.errors, []);
  const [vm] = r.config.vms;
  assert.ok(vm !== undefined, 'the block registers one VM');
  assert.deepEqual(vm, {
    ...newVmConfig('plain', { file: vm.location.file, line: 1 }),
    boot: '/bsd',
  });
});

test('newVmConfig(): every call has objects of its own', () => {
  const a = newVmConfig('a', { file: 'vmctl', line: 0 });
  const b = newVmConfig('b', { file: 'vmctl', line: 0 });
  a.allowInstance.disk = true;
  a.disks.push({ path: '/a.img', format: 'raw' });
  assert.equal(b.allowInstance.disk, false, 'a permission one VM grants is not granted by another');
  assert.deepEqual(b.disks, [], "one VM's disks are not another's");
  assert.notEqual(a.interfaces, b.interfaces, 'nor are its interfaces');
});
