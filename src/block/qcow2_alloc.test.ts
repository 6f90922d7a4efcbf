import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getRefcount, setRefcount } from './qcow2_alloc.js';

test('refcount entries of every width round-trip and sit where the format puts them', () => {
  for (let order = 0; order <= 6; order++) {
    const bits = 1 << order;
    const block = new Uint8Array(512);
    const entries = (512 * 8) / bits;
    const max = order === 6 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
    for (let i = 0; i < entries; i++) setRefcount(block, i, order, (i * 2654435761) % (max + 1));
    for (let i = 0; i < entries; i++) {
      assert.equal(
        getRefcount(block, i, order),
        (i * 2654435761) % (max + 1),
        `order ${order} entry ${i}`,
      );
    }
  }
  // Sub-byte widths fill each byte from its least significant bit.
  const ones = new Uint8Array(1);
  setRefcount(ones, 0, 0, 1);
  setRefcount(ones, 3, 0, 1);
  assert.equal(ones[0], 0b1001);
  const nibbles = new Uint8Array(1);
  assert.deepEqual(setRefcount(nibbles, 1, 2, 0xa), [0, 1]);
  assert.equal(nibbles[0], 0xa0);
  // Wider entries are big-endian.
  const wide = new Uint8Array(16);
  assert.deepEqual(setRefcount(wide, 1, 4, 0x1234), [2, 4]);
  assert.deepEqual([...wide.subarray(2, 4)], [0x12, 0x34]);
  setRefcount(wide, 1, 6, 2 ** 40 + 5);
  assert.deepEqual([...wide.subarray(8, 16)], [0, 0, 1, 0, 0, 0, 0, 5]);
  assert.equal(getRefcount(wide, 1, 6), 2 ** 40 + 5);
});
