import assert from 'node:assert/strict';
import { test } from 'node:test';

import { makeHarness } from './driver_harness.js';
import { VIORND_MAX_BYTES, VirtioRng } from './virtio_rng.js';

test('virtio-rng fills every writable buffer of a chain with random bytes', () => {
  const h = makeHarness(new VirtioRng('viornd0'));
  h.driver.start(0, [{ index: 0, pfn: 0x10 }]);
  const sub = h.driver.submit(0, [{ in: 48 }, { in: 80 }]);
  assert.equal(h.driver.usedIndex(0), 1);
  assert.deepEqual(h.driver.usedElement(0, 0), { id: sub.head, len: 128 });
  for (const part of sub.parts) {
    const bytes = h.driver.bytes(part.gpa, part.length);
    // 48 zero bytes from a CSPRNG: probability 2^-384.
    assert.ok(
      bytes.some((b) => b !== 0),
      `the ${part.length}-byte buffer was filled`,
    );
  }
  const again = h.driver.submit(0, [{ in: 48 }]);
  const [first] = sub.parts;
  const [second] = again.parts;
  assert.ok(first !== undefined && second !== undefined);
  assert.notDeepEqual(h.driver.bytes(first.gpa, 48), h.driver.bytes(second.gpa, 48));
});

test('virtio-rng gives at most 64 KiB per request', () => {
  const h = makeHarness(new VirtioRng('viornd0'));
  h.driver.start(0, [{ index: 0, pfn: 0x10 }]);
  const sub = h.driver.submit(0, [{ in: VIORND_MAX_BYTES + 4096 }]);
  assert.equal(h.driver.usedElement(0, 0).len, VIORND_MAX_BYTES);
  const [part] = sub.parts;
  assert.ok(part !== undefined);
  const tail = h.driver.bytes(part.gpa + VIORND_MAX_BYTES, 4096);
  assert.ok(
    tail.every((b) => b === 0),
    'bytes past the cap are left as they were',
  );
});
