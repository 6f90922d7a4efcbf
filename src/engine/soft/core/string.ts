// String instructions MOVS, STOS, LODS, SCAS, CMPS with REP/REPE/REPNE (SDM Vol. 2, "REP").
// A repeated instruction runs at most CHUNK iterations per execution and then restarts itself
// (RIP unchanged), so interrupts and the run budget are served during long copies; RCX, RSI
// and RDI are updated every iteration, so a fault leaves a restartable state.

import { dOsize, dAsize, dRep, D_SEG, REP_E, REP_NE } from './decode';
import { readV, writeV } from './mmu';
import { linear, getReg, putReg } from './operands';
import { alu } from './alu';
import { getZF, flagsStatic, FL_DF } from './flags';
import { sizeMask } from './bits';
import { rip, nextRip, regN, setRegN, RAX, RCX, RSI, RDI, SEG_ES } from './state';

const CHUNK: u32 = 4096;

@inline function step(size: u32): u64 {
  return (flagsStatic & FL_DF) != 0 ? <u64>0 - <u64>size : <u64>size;
}

/** Iterations to run now: 1 without REP, else min(RCX, CHUNK); 0 when RCX is already 0. */
@inline function iterations(d: usize): u32 {
  if (dRep(d) == 0) return 1;
  const count = regN(RCX, dAsize(d));
  return count > <u64>CHUNK ? CHUNK : <u32>count;
}

/** After `done` iterations of a REP form: restart the instruction if RCX is not yet 0. */
@inline function finish(d: usize, stopped: bool): void {
  if (dRep(d) != 0 && !stopped && regN(RCX, dAsize(d)) != 0) nextRip = rip;
}

@inline function decCount(d: usize): void {
  if (dRep(d) != 0) setRegN(RCX, dAsize(d), regN(RCX, dAsize(d)) - 1);
}

export function movs(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const seg = <u32>load<u8>(d, D_SEG);
  const n = iterations(d);
  for (let i: u32 = 0; i < n; i++) {
    const si = regN(RSI, asize), di = regN(RDI, asize);
    writeV(linear(SEG_ES, di), size, readV(linear(seg, si), size));
    setRegN(RSI, asize, (si + st) & m);
    setRegN(RDI, asize, (di + st) & m);
    decCount(d);
  }
  finish(d, false);
}

export function stos(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const v = getReg(d, RAX, size);
  const n = iterations(d);
  for (let i: u32 = 0; i < n; i++) {
    const di = regN(RDI, asize);
    writeV(linear(SEG_ES, di), size, v);
    setRegN(RDI, asize, (di + st) & m);
    decCount(d);
  }
  finish(d, false);
}

export function lods(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const seg = <u32>load<u8>(d, D_SEG);
  const n = iterations(d);
  for (let i: u32 = 0; i < n; i++) {
    const si = regN(RSI, asize);
    putReg(d, RAX, size, readV(linear(seg, si), size));
    setRegN(RSI, asize, (si + st) & m);
    decCount(d);
  }
  finish(d, false);
}

/** REPE stops when ZF = 0, REPNE when ZF = 1 (checked after each comparison). */
@inline function stopsOn(d: usize): bool {
  const rep = dRep(d);
  if (rep == REP_E) return getZF() == 0;
  if (rep == REP_NE) return getZF() != 0;
  return false;
}

export function scas(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const a = getReg(d, RAX, size);
  const n = iterations(d);
  let stopped = false;
  for (let i: u32 = 0; i < n; i++) {
    const di = regN(RDI, asize);
    alu(7, a, readV(linear(SEG_ES, di), size), size);
    setRegN(RDI, asize, (di + st) & m);
    decCount(d);
    if (stopsOn(d)) { stopped = true; break; }
  }
  finish(d, stopped);
}

export function cmps(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const seg = <u32>load<u8>(d, D_SEG);
  const n = iterations(d);
  let stopped = false;
  for (let i: u32 = 0; i < n; i++) {
    const si = regN(RSI, asize), di = regN(RDI, asize);
    const src = readV(linear(seg, si), size);
    const dst = readV(linear(SEG_ES, di), size);
    alu(7, src, dst, size);
    setRegN(RSI, asize, (si + st) & m);
    setRegN(RDI, asize, (di + st) & m);
    decCount(d);
    if (stopsOn(d)) { stopped = true; break; }
  }
  finish(d, stopped);
}
