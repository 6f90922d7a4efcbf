// String instructions MOVS, STOS, LODS, SCAS, CMPS with REP/REPE/REPNE (SDM Vol. 2, "REP").
// A repeated instruction runs at most CHUNK iterations per execution and then restarts itself
// (RIP unchanged), so interrupts and the run budget are served during long copies; RCX, RSI
// and RDI are updated every iteration, so a fault leaves a restartable state. REP MOVS and
// REP STOS with 64-bit addresses run in bulk, a page at a time, where both sides are plain RAM
// the TLB already maps (a bulk step cannot fault); anything else goes element by element.

import { dOsize, dAsize, dRep, D_SEG, REP_E, REP_NE } from './decode';
import { readV, writeV, readPtr, writePtr } from './mmu';
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

/**
 * How many elements of `size` bytes starting at `va` and going in the direction of `st` lie
 * inside va's page (0 when the first element crosses the page end).
 */
@inline function roomInPage(va: u64, size: u32, st: u64): u32 {
  const off = <u32>(va & 0xfff);
  if (off + size > 4096) return 0;
  return <i64>st > 0 ? (4096 - off) / size : off / size + 1;
}

/** Host address of the lowest byte of `k` elements at `va` in the direction of `st`. */
@inline function lowest(h: usize, k: u32, size: u32, st: u64): usize {
  return <i64>st > 0 ? h : h - <usize>((k - 1) * size);
}

export function movs(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const seg = <u32>load<u8>(d, D_SEG);
  let n = iterations(d);
  if (dRep(d) != 0 && asize == 8) n -= bulkMovs(n, size, seg, st);
  for (let i: u32 = 0; i < n; i++) {
    const si = regN(RSI, asize), di = regN(RDI, asize);
    writeV(linear(SEG_ES, di), size, readV(linear(seg, si), size));
    setRegN(RSI, asize, (si + st) & m);
    setRegN(RDI, asize, (di + st) & m);
    decCount(d);
  }
  finish(d, false);
}

/**
 * REP MOVS in page-sized bulk steps: returns the iterations done (of at most `n`), with RCX,
 * RSI and RDI advanced; stops where an element needs the slow path.
 */
function bulkMovs(n: u32, size: u32, seg: u32, st: u64): u32 {
  let done: u32 = 0;
  while (done < n) {
    const si = regN(RSI, 8), di = regN(RDI, 8);
    const src = linear(seg, si), dst = linear(SEG_ES, di);
    const k = min(n - done, min(roomInPage(src, size, st), roomInPage(dst, size, st)));
    if (k == 0) break;
    const hs = readPtr(src, size), hd = writePtr(dst, size);
    if (hs == 0 || hd == 0) break;
    const bytes = <usize>(k * size);
    const ls = lowest(hs, k, size, st), ld = lowest(hd, k, size, st);
    if (ld + bytes <= ls || ls + bytes <= ld) {
      memory.copy(ld, ls, bytes);
    } else {
      // Overlapping: element by element in the instruction's order, as the CPU does.
      for (let i: u32 = 0; i < k; i++) {
        const off = <usize>(<u64>i * st);
        if (size == 1) store<u8>(hd + off, load<u8>(hs + off));
        else if (size == 2) store<u16>(hd + off, load<u16>(hs + off));
        else if (size == 4) store<u32>(hd + off, load<u32>(hs + off));
        else store<u64>(hd + off, load<u64>(hs + off));
      }
    }
    const delta = <u64>k * st;
    setRegN(RSI, 8, si + delta);
    setRegN(RDI, 8, di + delta);
    setRegN(RCX, 8, regN(RCX, 8) - k);
    done += k;
  }
  return done;
}

/** REP STOS in page-sized bulk steps, as bulkMovs. */
function bulkStos(n: u32, size: u32, v: u64, st: u64): u32 {
  let done: u32 = 0;
  while (done < n) {
    const di = regN(RDI, 8);
    const dst = linear(SEG_ES, di);
    const k = min(n - done, roomInPage(dst, size, st));
    if (k == 0) break;
    const hd = writePtr(dst, size);
    if (hd == 0) break;
    const ld = lowest(hd, k, size, st);
    if (size == 1) {
      memory.fill(ld, <u8>v, k);
    } else {
      for (let i: u32 = 0; i < k; i++) {
        const at = ld + <usize>(i * size);
        if (size == 2) store<u16>(at, <u16>v);
        else if (size == 4) store<u32>(at, <u32>v);
        else store<u64>(at, v);
      }
    }
    const delta = <u64>k * st;
    setRegN(RDI, 8, di + delta);
    setRegN(RCX, 8, regN(RCX, 8) - k);
    done += k;
  }
  return done;
}

export function stos(d: usize): void {
  const size = dOsize(d), asize = dAsize(d), m = sizeMask(asize), st = step(size);
  const v = getReg(d, RAX, size);
  let n = iterations(d);
  if (dRep(d) != 0 && asize == 8) n -= bulkStos(n, size, v, st);
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
