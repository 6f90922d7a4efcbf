// The decoded-instruction cache. Decoded records are kept by guest-physical address, so code
// reached through two mappings is decoded once and a write through either mapping is seen.
// Each physical page has a code word: bit 0 says the cache holds instructions of that page,
// the rest is the page's generation, part of every cached key. A write to a page with cached
// code bumps the generation, which orphans all of the page's records at once; the TLB never
// gives a write fast path to such a page (mmu.ts), so every write to code is seen here — the
// guest's own (self-modifying code, the kernel patching its text through a second mapping) and
// the VMM's (GuestMemory's write path calls invalidateCode through index.ts).

import { CODE_PAGES, DCACHE, DCACHE_ENTRIES, DCACHE_ENTRY_SIZE } from './layout';
import { breakBlock } from './control';

const CODE_BIT: u32 = 1;
/** Keys: physical address in bits 0–39, code size / 16 in bits 40–42, generation above. */
const MODE_SHIFT: u64 = 40;
const GEN_SHIFT: u64 = 43;
/** Generations that fit the key; on overflow the whole cache is dropped and counting restarts. */
const GEN_LIMIT: u32 = 1 << 21;
/** A key no instruction has (its physical-address bits are beyond MAXPHYADDR). */
export const KEY_NONE: u64 = <u64>-1;

@inline function codeWord(pa: u64): usize {
  return CODE_PAGES + (<usize>(pa >> 12) << 2);
}

/** The cache entry for physical address `pa`; its record starts 8 bytes in. */
@inline export function entryOf(pa: u64): usize {
  const i = <u32>(pa ^ (pa >> 16)) & (DCACHE_ENTRIES - 1);
  return DCACHE + <usize>i * DCACHE_ENTRY_SIZE;
}

/** The key of the instruction at `pa` decoded for code size `mode`. */
@inline export function keyOf(pa: u64, mode: u32): u64 {
  const gen = load<u32>(codeWord(pa)) >> 1;
  return pa | (<u64>(mode >> 4) << MODE_SHIFT) | (<u64>gen << GEN_SHIFT);
}

/** True when the cache may hold instructions of the page at `pa`. */
@inline export function pageHasCode(pa: u64): bool {
  return (load<u32>(codeWord(pa)) & CODE_BIT) != 0;
}

/** Marks the page at `pa` as holding cached code; returns true if it did not before. */
export function markCode(pa: u64): bool {
  const w = codeWord(pa);
  const v = load<u32>(w);
  if ((v & CODE_BIT) != 0) return false;
  store<u32>(w, v | CODE_BIT);
  return true;
}

/** Orphans every cached instruction of the page at `pa` (a write landed on it). */
export function invalidateCodePage(pa: u64): void {
  const w = codeWord(pa);
  let gen = (load<u32>(w) >> 1) + 1;
  if (gen >= GEN_LIMIT) {
    flushDecoded();
    gen = 0;
  }
  store<u32>(w, gen << 1);
  breakBlock();
}

/** Drops every cached instruction. */
export function flushDecoded(): void {
  for (let i: u32 = 0; i < DCACHE_ENTRIES; i++) {
    store<u64>(DCACHE + <usize>i * DCACHE_ENTRY_SIZE, KEY_NONE);
  }
}

/** Resets the code words of `pages` pages of RAM and empties the cache (a new VM). */
export function resetCodePages(pages: u32): void {
  memory.fill(CODE_PAGES, 0, <usize>pages << 2);
  flushDecoded();
}
