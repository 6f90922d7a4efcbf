// Why the run loop stops, and the interrupt shadow. Kept apart from the loop so that executors
// can request a stop without importing the dispatcher.

export const STOP_NONE: u32 = 0;
export const STOP_HLT: u32 = 2;

/** Set by an executor to end run() after the current instruction. */
export let stopReason: u32 = STOP_NONE;
/** The instruction count at which external interrupts are still blocked (STI, MOV SS). */
export let shadowAt: u64 = <u64>-1;

/**
 * Set when the instructions decoded after the current one may no longer be valid or the loop
 * must look at the world again: a stop request, a write to cached code, a change of paging,
 * mode or privilege, an interrupt shadow. The run loop then ends the block.
 */
export let blockBreak: bool = false;

export function breakBlock(): void {
  blockBreak = true;
}
export function clearBlockBreak(): void {
  blockBreak = false;
}

export function requestStop(reason: u32): void {
  stopReason = reason;
  blockBreak = true;
}
export function clearStop(): void {
  stopReason = STOP_NONE;
}
export function setShadow(at: u64): void {
  shadowAt = at;
  blockBreak = true;
}
