// Entry points of the software engine core, called by src/engine/soft/engine.ts.
// The run loop: find the decoded block at RIP (icache.ts), execute it, retire; stop on a
// request, the budget, or a trap.

import {
  INSN, STATE, ATTENTION, RAM_BASE, RAM_MAX, FETCHED, BLOCK_MAX, BLOCK_RECORDS, RECORD_SIZE,
} from './layout';
import { decode, isFaulting, fetchedCount, clearFetched, D_HANDLER, D_LEN } from './decode';
import {
  entryOf, keyOf, markCode, invalidateCodePage, pageHasCode, resetCodePages, KEY_NONE,
} from './icache';
import { dispatch } from './gen/table';
import {
  rip, nextRip, icount, mode, syncIn as stateIn, syncOut as stateOut, updateMode,
} from './state';
import { getFlags, setFlags, FL_IF } from './flags';
import {
  ramSize, setRamSize, flushTlb, selectTlbSet, peekCode, refillFetch, dropWriteTags,
  fetchPage, fetchAddend, PAGE_MASK,
} from './mmu';
import {
  stopReason, clearStop, shadowAt, blockBreak, clearBlockBreak, STOP_NONE,
} from './control';
import { takePending } from './exceptions';
import { deliverException as deliverPending, deliverExternal } from './interrupts';

// run() results, mirrored by engine.ts.
export const EXIT_BUDGET: u32 = 0;
export const EXIT_KICK: u32 = 1;
export const EXIT_HLT: u32 = 2;
export const EXIT_IRQ_WINDOW: u32 = 3;

// ATTENTION bits.
const ATT_KICK: u32 = 1;
const ATT_IRQ_WINDOW: u32 = 2;

/** Prepares the engine for `ramSize` bytes of guest RAM; returns 0, or -1 if it cannot fit. */
export function init(ramSize: f64): i32 {
  if (ramSize > <f64>RAM_MAX || __heap_base > STATE) return -1;
  setRamSize(<u64>ramSize);
  resetCodePages(<u32>(ramSize / 4096));
  memory.fill(STATE, 0, 0x1000);
  atomic.store<u32>(ATTENTION, 0);
  flushTlb();
  return 0;
}

export function stateAddress(): usize {
  return STATE;
}
export function attentionAddress(): usize {
  return ATTENTION;
}
export function ramBase(): usize {
  return RAM_BASE;
}
export function instructionCount(): f64 {
  return <f64>icount;
}

/** Copies the running state to the exchange area. */
export function syncOut(): void {
  stateOut(getFlags());
}

/** Loads the state from the exchange area and drops cached translations. */
export function syncIn(): void {
  setFlags(stateIn());
  updateMode();
  selectTlbSet();
  flushTlb();
}

/** True when an external interrupt may be taken before the next instruction. */
export function interruptible(): bool {
  return (getFlags() & FL_IF) != 0 && icount != shadowAt;
}

/**
 * Drops decoded instructions of guest-physical `[pa, pa + length)`: the VMM wrote there
 * (a loader, device DMA), and the bytes may be code.
 */
export function invalidateCode(pa: f64, length: f64): void {
  if (length <= 0) return;
  const end = <u64>Math.min(pa + length, <f64>ramSize);
  for (let p = <u64>pa & PAGE_MASK; p < end; p += 4096) {
    if (pageHasCode(p)) invalidateCodePage(p);
  }
}

/**
 * Delivers the exception a trap left pending through the IDT. Returns 0 when delivered, 1 on
 * a triple fault (shutdown), 2 when no IDT is loaded (the exception stays recorded for the
 * VMM to report), -1 when none was pending. A fault during delivery traps again.
 */
export function deliverException(): i32 {
  return deliverPending();
}

/** Delivers external interrupt `vector` through the IDT (the caller checked interruptible). */
export function injectExternal(vector: u32): void {
  deliverExternal(vector);
}

/** The vector of a pending exception (and clears it), or -1. */
export function takeException(): i32 {
  return takePending();
}

/** An instruction byte at linear `va` for diagnostics, or -1 when it does not map to RAM. */
export function codeByte(va: u64): i32 {
  return peekCode(va);
}

/** Where the decoder keeps the bytes it fetched of the current instruction. */
export function fetchedAddress(): usize {
  return FETCHED;
}

/** How many bytes the decoder fetched of the current instruction. */
export function fetchedLength(): u32 {
  return fetchedCount;
}

/**
 * Runs at most `budget` instructions. Returns an EXIT_* code; exceptions leave by a trap that
 * the caller catches (see exceptions.ts).
 */
export function run(budget: u32): u32 {
  clearStop();
  let left = budget;
  while (true) {
    const att = atomic.load<u32>(ATTENTION);
    if (att != 0) {
      if ((att & ATT_KICK) != 0) {
        atomic.and<u32>(ATTENTION, ~ATT_KICK);
        return EXIT_KICK;
      }
      if ((att & ATT_IRQ_WINDOW) != 0 && interruptible()) return EXIT_IRQ_WINDOW;
    }
    if (left == 0) return EXIT_BUDGET;
    const recs = blockAt();
    left -= runBlock(recs, min(blockLength, left));
    if (stopReason != STOP_NONE) return stopReason;
  }
}

/** Instructions in the block blockAt() returned. */
let blockLength: u32 = 0;

/**
 * Runs at most `n` decoded instructions from `recs` in order, until one branches or asks for
 * the block to end; returns how many retired. A fault leaves by a trap with RIP at the
 * faulting instruction.
 */
@inline function runBlock(recs: usize, n: u32): u32 {
  clearBlockBreak();
  let p = recs;
  let done: u32 = 0;
  while (true) {
    const fallThrough = rip + <u64>load<u8>(p, D_LEN);
    nextRip = fallThrough;
    dispatch(<u32>load<u16>(p, D_HANDLER), p);
    rip = nextRip;
    icount++;
    done++;
    if (rip != fallThrough || blockBreak || done == n) return done;
    p += RECORD_SIZE;
  }
}

/**
 * The decoded block of instructions at RIP: from the cache, or decoded now. Sets blockLength.
 */
@inline function blockAt(): usize {
  if ((rip & PAGE_MASK) != fetchPage) {
    clearFetched();
    refillFetch(rip);
  }
  // Code outside RAM (MMIO) is decoded every time and never cached.
  if ((rip & PAGE_MASK) != fetchPage) {
    decode(INSN, rip);
    blockLength = 1;
    return INSN;
  }
  const pa = rip + fetchAddend - <u64>RAM_BASE;
  const e = entryOf(pa);
  const key = keyOf(pa, mode);
  if (load<u64>(e) == key) {
    blockLength = load<u32>(e, 8);
    return e + BLOCK_RECORDS;
  }
  return buildBlock(e, pa, key);
}

/**
 * Decodes the block at RIP into cache entry `e`: consecutive instructions up to BLOCK_MAX,
 * staying clear of the page's last 15 bytes so that decoding ahead never fetches from another
 * page (and so never faults), and stopping after an instruction that can only fault.
 */
function buildBlock(e: usize, pa: u64, key: u64): usize {
  store<u64>(e, KEY_NONE);
  const recs = e + BLOCK_RECORDS;
  let offset = <u32>(pa & 0xfff) + decode(recs, rip);
  // An instruction that spans two pages depends on both: decode it each time instead.
  if (offset > 4096) {
    blockLength = 1;
    return recs;
  }
  let n: u32 = 1;
  let p = recs;
  while (n < BLOCK_MAX && offset <= 4096 - 15 && !isFaulting(p)) {
    p += RECORD_SIZE;
    offset += decode(p, rip + <u64>(offset - <u32>(pa & 0xfff)));
    n++;
  }
  if (markCode(pa)) dropWriteTags(pa);
  store<u32>(e, n, 8);
  store<u64>(e, key);
  blockLength = n;
  return recs;
}
