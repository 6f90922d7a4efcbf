import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmConfig } from '../config/types.js';
import { VM_STATE } from './codes.js';
import { startParams } from './message_samples.js';
import { Registry, vmStatus } from './registry.js';
import { configFromRequest } from './vm_spec.js';

/** A VM as `vmctl start -b` would make it, owned by `uid`. */
function vm(name: string, uid = 0, enabled = true): VmConfig {
  const request = startParams({ name }, { memory: 64 * 1024 * 1024, boot: '/boot/kernel' });
  const config = configFromRequest({ name, ...request }, uid);
  return { ...config, enabled };
}

test('Registry.add() numbers VMs from 1 in the order they come', () => {
  const registry = new Registry();
  const ids = ['a', 'b', 'c'].map((name) => registry.add(vm(name), true).id);
  assert.deepEqual(ids, [1, 2, 3]);
  assert.deepEqual(
    registry.all().map((e) => e.config.name),
    ['a', 'b', 'c'],
  );
});

test('Registry: a VM removed and added again keeps its id (vm_claimid)', () => {
  const registry = new Registry();
  const a = registry.add(vm('a'), true);
  registry.add(vm('b'), true);
  registry.remove(a);
  assert.equal(registry.byName('a'), undefined);
  registry.add(vm('c'), true);
  assert.equal(registry.add(vm('a'), true).id, 1, 'a gets its old id back');
  assert.equal(registry.byName('c')?.id, 3, 'a new name gets a new id');
});

test('Registry: the id is claimed per name and owner', () => {
  const registry = new Registry();
  const root = registry.add(vm('x', 0), false);
  registry.remove(root);
  assert.equal(registry.add(vm('x', 1000), false).id, 2, "another owner's x is another VM");
});

test('Registry.add() refuses a second VM of the same name', () => {
  const registry = new Registry();
  registry.add(vm('a'), true);
  assert.throws(() => registry.add(vm('a'), true), /vm "a" already exists/);
});

test('Registry.find() takes an id or a name', () => {
  const registry = new Registry();
  const a = registry.add(vm('a'), true);
  assert.equal(registry.find({ id: 1 }), a);
  assert.equal(registry.find({ name: 'a' }), a);
  assert.equal(registry.find({ id: 2 }), undefined);
  assert.equal(registry.find({ name: 'b' }), undefined);
});

test('vmStatus() of a stopped VM: its configured owner, no pid or tty; disabled ones too', () => {
  const registry = new Registry();
  const entry = registry.add({ ...vm('a', 1000), owner: { uid: 1000, gid: 50 } }, true);
  const off = registry.add(vm('b', 0, false), true);
  assert.equal(off.state, VM_STATE.DISABLED);
  assert.deepEqual(vmStatus(entry), {
    id: 1,
    pid: null,
    vcpus: 1,
    maxMemory: 64 * 1024 * 1024,
    curMemory: 0,
    tty: null,
    owner: { uid: 1000, gid: 50 },
    state: 'stopped',
    name: 'a',
  });
  assert.equal(vmStatus(off).state, 'stopped');
  entry.state |= VM_STATE.WAITING;
  assert.equal(vmStatus(entry).state, 'waiting');
});
