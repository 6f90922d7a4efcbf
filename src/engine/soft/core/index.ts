// Entry points of the software engine core, called by src/engine/soft/engine.ts.
// The run loop: decode at RIP, execute, retire; stop on a request, the budget, or a trap.

import { INSN, STATE, ATTENTION, RAM_BASE, RAM_MAX, FETCHED } from './layout';
import { decode, fetchedCount, D_HANDLER, D_LEN } from './decode';
import { dispatch } from './gen/table';
import { rip, nextRip, icount, syncIn as stateIn, syncOut as stateOut, updateMode } from './state';
import { getFlags, setFlags, FL_IF } from './flags';
import { setRamSize, flushTlb, selectTlbSet, peekCode } from './mmu';
import { stopReason, clearStop, shadowAt, STOP_NONE } from './control';
import { takePending } from './exceptions';

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
    left--;
    decode(INSN, rip);
    nextRip = rip + <u64>load<u8>(INSN, D_LEN);
    dispatch(<u32>load<u16>(INSN, D_HANDLER), INSN);
    rip = nextRip;
    icount++;
    if (stopReason != STOP_NONE) return stopReason;
  }
}
