import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GuestMemory } from '../../engine/memory.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './constants.js';
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

/** A queue of 4 at 0 whose available ring offers descriptor 0, and a writer of descriptors. */
function indirectQueue(): {
  memory: GuestMemory;
  q: SplitVirtqueue;
  desc: (at: number, addr: number, len: number, flags: number, next?: number) => void;
} {
  const memory = ram();
  const q = new SplitVirtqueue(memory, 4);
  q.setLegacyBase(0);
  const avail = q.rings?.avail ?? 0;
  memory.write16(avail + 4, 0);
  memory.write16(avail + 2, 1);
  const desc = (at: number, addr: number, len: number, flags: number, next = 0): void => {
    memory.write32(at, addr);
    memory.write32(at + 8, len);
    memory.write16(at + 12, flags);
    memory.write16(at + 14, next);
  };
  return { memory, q, desc };
}

const TABLE = 0x8000;

test('an indirect descriptor, once negotiated, carries the chain in its table', () => {
  const { q, desc } = indirectQueue();
  desc(0, TABLE, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE);
  // Table entries in the order 0 -> 2 -> 1: next indexes the table, not the ring.
  desc(TABLE, 0x9000, 16, VIRTQ_DESC_F_NEXT, 2);
  desc(TABLE + 32, 0xa000, 100, VIRTQ_DESC_F_NEXT, 1);
  desc(TABLE + 16, 0xb000, 7, VIRTQ_DESC_F_WRITE);
  assert.throws(() => q.chainAt(0), VirtqueueError, 'refused when not negotiated');
  const chain = q.pop(true);
  assert.ok(chain !== undefined, 'the chain is taken');
  assert.equal(chain.head, 0);
  assert.deepEqual(chain.readable, [
    { gpa: 0x9000, length: 16 },
    { gpa: 0xa000, length: 100 },
  ]);
  assert.deepEqual(chain.writable, [{ gpa: 0xb000, length: 7 }]);
});

test('malformed indirect descriptors and tables are errors', () => {
  const cases: { what: string; lay: (d: ReturnType<typeof indirectQueue>['desc']) => void }[] = [
    {
      what: 'INDIRECT with NEXT',
      lay: (d) => {
        d(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
        d(16, 0x9000, 16, 0);
        d(TABLE, 0x9000, 16, 0);
      },
    },
    {
      what: 'INDIRECT after a direct descriptor',
      lay: (d) => {
        d(0, 0x9000, 16, VIRTQ_DESC_F_NEXT, 1);
        d(16, TABLE, 16, VIRTQ_DESC_F_INDIRECT);
        d(TABLE, 0x9000, 16, 0);
      },
    },
    {
      what: 'a table inside a table',
      lay: (d) => {
        d(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT);
        d(TABLE, TABLE, 16, VIRTQ_DESC_F_INDIRECT);
      },
    },
    {
      what: 'a table length not a multiple of 16',
      lay: (d) => {
        d(0, TABLE, 24, VIRTQ_DESC_F_INDIRECT);
        d(TABLE, 0x9000, 16, 0);
      },
    },
    {
      what: 'a table longer than the queue',
      lay: (d) => {
        d(0, TABLE, 16 * 5, VIRTQ_DESC_F_INDIRECT);
        for (let i = 0; i < 5; i++)
          d(TABLE + 16 * i, 0x9000, 16, i < 4 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
      },
    },
    {
      what: 'a table outside RAM',
      lay: (d) => {
        d(0, (1 << 16) - 16, 32, VIRTQ_DESC_F_INDIRECT);
      },
    },
    {
      what: 'a loop inside a table',
      lay: (d) => {
        d(0, TABLE, 32, VIRTQ_DESC_F_INDIRECT);
        d(TABLE, 0x9000, 16, VIRTQ_DESC_F_NEXT, 1);
        d(TABLE + 16, 0x9000, 16, VIRTQ_DESC_F_NEXT, 0);
      },
    },
    {
      what: 'a next index past the table',
      lay: (d) => {
        d(0, TABLE, 32, VIRTQ_DESC_F_INDIRECT);
        d(TABLE, 0x9000, 16, VIRTQ_DESC_F_NEXT, 2);
      },
    },
  ];
  for (const c of cases) {
    const { q, desc } = indirectQueue();
    c.lay(desc);
    assert.throws(() => q.pop(true), VirtqueueError, `${c.what} is refused`);
    assert.equal(q.pending(), 1, `${c.what}: the chain is not taken`);
  }
});
