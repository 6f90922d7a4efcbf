import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pageSize, ResidentMemory } from './residency.js';

const MiB = 1024 * 1024;
/** Larger than a transparent huge page (2 MiB), so that two halves never share one. */
const HALF = 8 * MiB;

/** A shared wasm memory as the engine makes guest RAM: untouched, so not resident. */
function freshMemory(bytes: number): WebAssembly.Memory {
  const pages = bytes / (64 * 1024);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

test('the page size is a power of two of at least 4 KiB', () => {
  const size = pageSize();
  assert.ok(size >= 4096 && (size & (size - 1)) === 0, `page size ${size}`);
});

test('memory nobody touched is not resident; written pages are, and only where written', () => {
  const memory = freshMemory(2 * HALF);
  const low = new Uint8Array(memory.buffer, 0, HALF);
  const high = new ResidentMemory(new Uint8Array(memory.buffer, HALF, HALF));
  const lowResident = new ResidentMemory(low);
  assert.equal(lowResident.bytes(), 0, 'a fresh memory has no resident page');
  const page = pageSize();
  const touched = 10;
  for (let i = 0; i < touched; i++) low[i * 3 * page] = 1;
  const resident = lowResident.bytes();
  assert.ok(
    resident >= touched * page && resident <= HALF,
    `expected at least ${touched} pages and at most the range resident, got ${resident} bytes`,
  );
  assert.equal(resident % page, 0, 'whole pages');
  assert.equal(high.bytes(), 0, 'the half nobody touched is still not resident');
});

test('a range that is all written is all resident, never more than its length', () => {
  const memory = freshMemory(HALF);
  const range = new Uint8Array(memory.buffer, 0, HALF - 100);
  range.fill(7);
  assert.equal(new ResidentMemory(range).bytes(), HALF - 100);
});

test('an empty range holds nothing; one off a page boundary is refused with EINVAL', () => {
  const memory = freshMemory(HALF);
  assert.equal(new ResidentMemory(new Uint8Array(memory.buffer, 0, 0)).bytes(), 0);
  const misaligned = new ResidentMemory(new Uint8Array(memory.buffer, 1, 4096));
  assert.throws(() => misaligned.bytes(), { code: 'EINVAL', syscall: 'mincore' });
});
