import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize } from './size.js';

test('parseSize() scales by powers of 1024 in either case', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('512b'), 512);
  assert.equal(parseSize('64K'), 64 * 1024);
  assert.equal(parseSize('64m'), 64 * 1024 * 1024);
  assert.equal(parseSize('2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('1T'), 1024 ** 4);
});

test('parseSize() rejects what scan_scaled rejects, quoting the input', () => {
  for (const bad of ['', 'M', '1.5G', '-1M', '12Q', '0x10', '1 G B']) {
    assert.throws(
      () => parseSize(bad),
      { message: `invalid size "${bad}"` },
      `input ${JSON.stringify(bad)}`,
    );
  }
  assert.throws(() => parseSize('9E'), { message: 'size "9E" is too large' });
});
