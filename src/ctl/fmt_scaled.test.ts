import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtScaled } from './fmt_scaled.js';

const K = 1024;
const M = K * K;
const G = M * K;

test('fmtScaled writes sizes as OpenBSD fmt_scaled(3) does', () => {
  const cases: [number | bigint, string][] = [
    [0, '0B'],
    [1, '1B'],
    [1023, '1023B'],
    [K, '1.0K'],
    [1536, '1.5K'],
    [10 * K, '10.0K'],
    [99 * K + 1000, '100K'],
    [100 * K, '100K'],
    [100 * K + 600, '101K'],
    [1023 * K + 1000, '1024K'],
    [M, '1.0M'],
    [12 * M + 512 * K, '12.5M'],
    [512 * M, '512M'],
    [953 * M, '953M'],
    [G, '1.0G'],
    [1.5 * G, '1.5G'],
    [128 * G, '128G'],
    [1024n ** 4n, '1.0T'],
    [1024n ** 6n * 5n, '5.0E'],
    [1024n ** 7n, `${1024n ** 7n}B`],
  ];
  for (const [bytes, expected] of cases) {
    assert.equal(fmtScaled(bytes), expected, `fmtScaled(${bytes})`);
  }
});
