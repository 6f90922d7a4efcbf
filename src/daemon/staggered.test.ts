import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromRequest } from './vm_spec.js';
import { VM_STATE } from './codes.js';
import { startParams } from './message_samples.js';
import { Registry, type VmEntry } from './registry.js';
import { StaggeredStarter, staggerSettings } from './staggered.js';

function entries(count: number): VmEntry[] {
  const registry = new Registry();
  return Array.from({ length: count }, (_, i) => {
    const name = `vm${i}`;
    const request = { name, ...startParams({ name }, { boot: '/k' }) };
    return registry.add(configFromRequest(request, 0), true);
  });
}

test('StaggeredStarter starts `parallel` VMs at once and the rest in later batches', async () => {
  const started: string[] = [];
  const vms = entries(5);
  const starter = new StaggeredStarter((entry) => started.push(entry.config.name), {
    parallel: 2,
    delay: 0,
  });
  starter.enqueue(vms);
  assert.deepEqual(started, ['vm0', 'vm1'], 'the first batch at once');
  const last = vms[4];
  if (last === undefined) throw new Error('five VMs');
  assert.equal(last.state, VM_STATE.WAITING, 'the others wait');
  for (let i = 0; i < 10 && starter.waiting > 0; i++) await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, ['vm0', 'vm1', 'vm2', 'vm3', 'vm4'], 'in order, batch by batch');
  assert.equal(last.state, 0, 'none waits any more');
});

test('StaggeredStarter.cancel() and clear() take VMs off the queue', () => {
  const started: string[] = [];
  const vms = entries(4);
  // An hour between batches: only the first runs here, and a timer left behind would keep
  // the test process alive.
  const starter = new StaggeredStarter((entry) => started.push(entry.config.name), {
    parallel: 1,
    delay: 3600,
  });
  starter.enqueue(vms);
  const [, second, third] = vms;
  if (second === undefined || third === undefined) throw new Error('four VMs');
  starter.cancel(second);
  assert.equal(second.state & VM_STATE.WAITING, 0, 'cancel() clears the waiting state');
  assert.equal(starter.waiting, 2);
  starter.clear();
  assert.equal(starter.waiting, 0);
  assert.equal(third.state & VM_STATE.WAITING, 0, 'clear() too');
  starter.enqueue([second]);
  assert.deepEqual(started, ['vm0', 'vm1'], 'after clear() a new batch starts at once');
  starter.clear();
});

test('staggerSettings(): vm.conf, else one VM per CPU every 30 seconds', () => {
  assert.deepEqual(staggerSettings({ parallel: 3, delay: 7 }), { parallel: 3, delay: 7 });
  const fallback = staggerSettings(null);
  assert.equal(fallback.delay, 30);
  assert.ok(fallback.parallel >= 1);
});
