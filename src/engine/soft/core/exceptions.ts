// Precise exceptions. raise() records the exception in the exchange area and traps out of
// wasm; the TypeScript run loop catches the trap, finds the record and either delivers the
// exception to the guest or reports it. Handlers therefore read every operand and check every
// fault before they write any architectural state, so the faulting instruction can restart.

import { S_EXC, setSlot, getSlot, rip } from './state';

export const EXC_DE: u32 = 0;
export const EXC_DB: u32 = 1;
export const EXC_BP: u32 = 3;
export const EXC_UD: u32 = 6;
export const EXC_NM: u32 = 7;
export const EXC_DF: u32 = 8;
export const EXC_TS: u32 = 10;
export const EXC_NP: u32 = 11;
export const EXC_SS: u32 = 12;
export const EXC_GP: u32 = 13;
export const EXC_PF: u32 = 14;

/** Error-code value meaning "this exception pushes no error code". */
export const NO_ERROR_CODE: u64 = <u64>-1;

/** True between raise() and the run loop taking the exception. */
export let pending: bool = false;

/** Records exception `vector` at the current instruction and leaves the interpreter. */
export function raise(vector: u32, errorCode: u64): void {
  setSlot(S_EXC, vector);
  setSlot(S_EXC + 1, errorCode);
  setSlot(S_EXC + 3, rip);
  pending = true;
  unreachable();
}

/** Invalid opcode. */
export function raiseUD(): void {
  raise(EXC_UD, NO_ERROR_CODE);
}

/** General protection fault with error code `code`. */
export function raiseGP(code: u64): void {
  raise(EXC_GP, code);
}

/** Takes the pending exception record: returns its vector, or -1 when none is pending. */
export function takePending(): i32 {
  if (!pending) return -1;
  pending = false;
  return <i32>getSlot(S_EXC);
}
