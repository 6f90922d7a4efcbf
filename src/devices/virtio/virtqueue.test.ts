import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GuestMemory } from '../../engine/memory.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './constants.js';
import { DescriptorChain, SplitVirtqueue, VirtqueueError, legacyRingBytes } from './virtqueue.js';

function ram(size = 1 << 16): GuestMemory {
  return new GuestMemory(new SharedArrayBuffer(size), { base: 0, size });
}

test('the legacy layout: used ring at the next 4096-byte boundary after the available ring', () => {
  const q = new SplitVirtqueue(ram(1 << 20), 128);
  q.setLegacyBase(0x10000);
  assert.deepEqual(q.rings, { desc: 0x10000, avail: 0x10800, used: 0x11000 });
  assert.equal(legacyRingBytes(128), 0x1000 + 6 + 8 * 128);
  assert.equal(legacyRingBytes(256), 0x2000 + 6 + 8 * 256, '16*256 + 6 + 512 rounds up to 8 KiB');
});

test('queue sizes must be powers of two up to 32768', () => {
  for (const size of [0, 3, 65536, 1.5]) {
    assert.throws(() => new SplitVirtqueue(ram(), size), RangeError, `size ${size}`);
  }
});

test('a chain reads and writes its parts as byte streams across descriptors', () => {
  const memory = ram();
  const chain = new DescriptorChain(
    memory,
    0,
    [
      { gpa: 0x1000, length: 3 },
      { gpa: 0x2000, length: 5 },
    ],
    [
      { gpa: 0x3000, length: 2 },
      { gpa: 0x4000, length: 6 },
    ],
  );
  memory.write(0x1000, Uint8Array.of(1, 2, 3));
  memory.write(0x2000, Uint8Array.of(4, 5, 6, 7, 8));
  const got = new Uint8Array(4);
  chain.read(2, got);
  assert.deepEqual(got, Uint8Array.of(3, 4, 5, 6));
  chain.write(1, Uint8Array.of(9, 10, 11));
  assert.deepEqual(memory.view(0x3000, 2), Uint8Array.of(0, 9));
  assert.deepEqual(memory.view(0x4000, 3), Uint8Array.of(10, 11, 0));
  assert.throws(() => {
    chain.write(6, new Uint8Array(3));
  }, RangeError);
  chain.cancel();
  chain.write(0, Uint8Array.of(0xee));
  assert.equal(memory.read8(0x3000), 0, 'a cancelled chain writes nothing');
});

test('pop() takes chains in order; pushUsed() publishes them', () => {
  const memory = ram();
  const q = new SplitVirtqueue(memory, 4);
  q.setLegacyBase(0);
  const { avail, used } = q.rings ?? { avail: 0, used: 0 };
  memory.write32(0, 0x8000);
  memory.write32(8, 16);
  memory.write16(12, VIRTQ_DESC_F_NEXT);
  memory.write16(14, 1);
  memory.write32(16, 0x9000);
  memory.write32(24, 4);
  memory.write16(28, VIRTQ_DESC_F_WRITE);
  memory.write16(avail + 4, 0);
  memory.write16(avail + 2, 1);
  assert.equal(q.pending(), 1);
  const chain = q.pop();
  assert.ok(chain !== undefined);
  assert.deepEqual([chain.readableLength, chain.writableLength], [16, 4]);
  assert.equal(q.pop(), undefined, 'nothing more');
  q.pushUsed(chain.head, 4);
  assert.deepEqual(
    [memory.read16(used + 2), memory.read32(used + 4), memory.read32(used + 8)],
    [1, 0, 4],
  );
  memory.write16(avail + 2, 6);
  assert.throws(() => q.pending(), VirtqueueError, '5 ahead of a 4-entry queue');
});
