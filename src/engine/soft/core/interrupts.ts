// Interrupt and exception delivery in IA-32e mode (SDM Vol. 3A, 6.14): 64-bit gates, IST and
// RSPn stacks from the TSS, the 16-byte-aligned frame; the double-fault rules (6.15, Table
// 6-5) and the triple fault; IRET; INT n, INT3, INT1.

import {
  S_IDTR, S_EXC, S_SEGS, getSlot, segAttr, segSelector, reg64, setReg64, rip, setRip, setNextRip,
  cpl, mode, RSP, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS,
} from './state';
import { getFlags, setFlags, FL_IF, FL_TF } from './flags';
import { readSys, writeSys, probeWriteSys, canonical, readV } from './mmu';
import {
  raise, takePending, EXC_GP, EXC_NP, EXC_DF, EXC_PF, EXC_SS, NO_ERROR_CODE,
} from './exceptions';
import {
  readDescriptor, descAttr, attrDpl, checkCodeSegment, loadCodeSegment, checkStackSegment,
  loadFromDescriptor, setNull, setSegment, tssIst, tssRsp, A_S, A_CODE, A_CONFORMING, A_L, A_DB, A_P, A_UNUSABLE,
  TYPE_INTERRUPT_GATE, TYPE_TRAP_GATE, SEL_RPL,
} from './descriptors';
import { dOsize, dImm, dOpcode } from './decode';
import { nextRip } from './state';

/** deliverException() results, mirrored by engine.ts. */
export const DELIVERED: i32 = 0;
export const SHUTDOWN: i32 = 1;
/** No IDT is loaded (limit 0): the exception is reported to the VMM instead. */
export const NO_IDT: i32 = 2;

const EV_EXCEPTION: u32 = 0;
const EV_EXTERNAL: u32 = 1;
/** INT n, INT3: the gate's DPL is checked against CPL. */
const EV_SOFTWARE: u32 = 2;
/** INT1 (F1): a trap like a debug exception, without the DPL check. */
const EV_ICEBP: u32 = 3;

const FL_NT: u64 = 1 << 14;
const FL_RF: u64 = 1 << 16;
const FL_VM: u64 = 1 << 17;
const FL_IOPL: u64 = 3 << 12;
/** Bits IRET may always change (SDM IRET: CF PF AF ZF SF TF DF OF NT RF AC ID). */
const IRET_ALWAYS: u64 = 0x25_4dd5;
const FL_VIF_VIP: u64 = 3 << 19;

/** The vector whose delivery is under way, for the double-fault rules; -1 when none. */
let delivering: i32 = -1;

@inline function contributory(v: i32): bool { return v == 0 || (v >= 10 && v <= 13); }

/** Exceptions of the trap class (#DB as the engine raises it, #BP, #OF); the rest are faults
 *  or aborts, whose frame saves RF = 1 (SDM Vol. 3A, 18.3.1.1). */
@inline function isTrap(v: u32): bool { return v == 1 || v == 3 || v == 4; }

/** Exceptions that push an error code (SDM Vol. 3A, Table 6-1). */
@inline function hasErrorCode(v: u32): bool {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/**
 * Delivers the exception a trap left pending, escalating per the double-fault rules when it
 * arose while delivering another. Returns DELIVERED, SHUTDOWN (triple fault) or NO_IDT; -1 when
 * nothing was pending.
 */
export function deliverException(): i32 {
  let vector = takePending();
  if (vector < 0) return -1;
  let code = getSlot(S_EXC + 1);
  const first = delivering;
  delivering = -1;
  if (first >= 0) {
    if (first == <i32>EXC_DF) return SHUTDOWN;
    if ((contributory(first) && contributory(vector)) ||
        (first == <i32>EXC_PF && (vector == <i32>EXC_PF || contributory(vector)))) {
      vector = <i32>EXC_DF;
      code = 0;
    }
  } else if (getSlot(S_IDTR + 1) == 0) {
    return NO_IDT;
  }
  deliver(<u32>vector, code, rip, EV_EXCEPTION);
  return DELIVERED;
}

/** Delivers external interrupt `vector` at the current instruction boundary. */
export function deliverExternal(vector: u32): void {
  deliver(vector, NO_ERROR_CODE, rip, EV_EXTERNAL);
}

/** Delivers an event through IDT gate `vector`; `returnRip` is the RIP the frame saves. */
function deliver(vector: u32, errorCode: u64, returnRip: u64, kind: u32): void {
  // An exception during delivery of an exception escalates; one during an interrupt is
  // handled serially (it is "benign" in Table 6-5's terms).
  delivering = kind == EV_EXCEPTION ? <i32>vector : 0x100;
  const ext: u64 = kind == EV_EXCEPTION || kind == EV_EXTERNAL ? 1 : 0;
  const gateErr = (<u64>vector << 3) | 2 | ext;
  if (mode != 64) raise(EXC_GP, gateErr); // only IA-32e delivery is implemented
  if (<u64>vector * 16 + 15 > getSlot(S_IDTR + 1)) raise(EXC_GP, gateErr);
  const gate = getSlot(S_IDTR) + <u64>vector * 16;
  const lo = readSys(gate, 8);
  const hi = readSys(gate + 8, 8);
  const type = <u32>(lo >> 40) & 0xf;
  if (type != TYPE_INTERRUPT_GATE && type != TYPE_TRAP_GATE) raise(EXC_GP, gateErr);
  if (kind == EV_SOFTWARE && (<u32>(lo >> 45) & 3) < cpl) raise(EXC_GP, gateErr);
  if ((lo & (<u64>1 << 47)) == 0) raise(EXC_NP, gateErr);
  const sel = <u32>(lo >> 16) & 0xffff;
  const target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi << 32);
  const ist = <u32>(lo >> 32) & 7;

  // The handler's code segment: 64-bit code at or above the current privilege.
  const selErr = <u64>(sel & 0xfffc) | ext;
  if ((sel & 0xfffc) == 0) raise(EXC_GP, ext);
  const cs = readDescriptor(sel, EXC_GP);
  const attr = descAttr(cs);
  if ((attr & A_S) == 0 || (attr & A_CODE) == 0 || attrDpl(attr) > cpl) raise(EXC_GP, selErr);
  if ((attr & A_L) == 0 || (attr & A_DB) != 0) raise(EXC_GP, selErr);
  if ((attr & A_P) == 0) raise(EXC_NP, selErr);
  const newCpl = (attr & A_CONFORMING) != 0 ? cpl : attrDpl(attr);
  if (!canonical(target)) raise(EXC_GP, ext);

  // The stack: ISTn if the gate names one, else RSPn on a privilege change.
  const oldRsp = reg64(RSP);
  let sp = ist != 0 ? tssIst(ist) : newCpl < cpl ? tssRsp(newCpl) : oldRsp;
  sp &= ~<u64>15;
  const withCode = kind == EV_EXCEPTION && hasErrorCode(vector);
  const frame = sp - (withCode ? 48 : 40);
  if (!canonical(frame) || !canonical(sp - 1)) raise(EXC_SS, ext);
  probeWriteSys(frame, withCode ? 48 : 40);
  const flags = getFlags();
  const saved = kind == EV_EXCEPTION && !isTrap(vector) ? flags | FL_RF : flags;
  let at = frame;
  if (withCode) { writeSys(at, 8, errorCode & 0xffff_ffff); at += 8; }
  writeSys(at, 8, returnRip);
  writeSys(at + 8, 8, <u64>segSelector(SEG_CS));
  writeSys(at + 16, 8, saved);
  writeSys(at + 24, 8, oldRsp);
  writeSys(at + 32, 8, <u64>segSelector(SEG_SS));

  if (newCpl != cpl) setSegment(SEG_SS, newCpl, 0, 0, A_UNUSABLE | (<u64>newCpl << 5));
  loadCodeSegment(sel, cs, newCpl);
  setReg64(RSP, frame);
  let f = flags & ~(FL_TF | FL_NT | FL_RF | FL_VM);
  if (type == TYPE_INTERRUPT_GATE) f &= ~FL_IF;
  setFlags(f);
  setRip(target);
  setNextRip(target);
  delivering = -1;
}

// --- instructions ----------------------------------------------------------------------------

/** CD ib: INT n; CC: INT3; F1: INT1. The saved RIP is the next instruction's. */
export function intN(d: usize): void {
  const op = dOpcode(d);
  if (op == 0xcc) deliver(3, NO_ERROR_CODE, nextRip, EV_SOFTWARE);
  else if (op == 0xf1) deliver(1, NO_ERROR_CODE, nextRip, EV_ICEBP);
  else deliver(<u32>dImm(d) & 0xff, NO_ERROR_CODE, nextRip, EV_SOFTWARE);
}

/** CF: IRET/IRETQ in IA-32e mode (SDM IRET, "IA-32e-MODE" branch). */
export function iret(d: usize): void {
  if (mode != 64) raise(EXC_GP, 0); // protected-mode and real-mode IRET are not implemented
  const size = dOsize(d);
  if (size == 2) raise(EXC_GP, 0);
  if ((getFlags() & FL_NT) != 0) raise(EXC_GP, 0);
  const sp = reg64(RSP);
  const newRip = readV(sp, size);
  const csSel = <u32>readV(sp + size, size) & 0xffff;
  const newFlags = readV(sp + 2 * size, size);
  const newRsp = readV(sp + 3 * size, size);
  const ssSel = <u32>readV(sp + 4 * size, size) & 0xffff;
  const rpl = csSel & SEL_RPL;
  if (rpl < cpl) raise(EXC_GP, <u64>(csSel & 0xfffc));
  const cs = checkCodeSegment(csSel, rpl, EXC_GP);
  const to64 = (descAttr(cs) & A_L) != 0;
  if (to64 && !canonical(newRip)) raise(EXC_GP, 0);

  // RFLAGS: IF only if CPL ≤ IOPL, IOPL and VIF/VIP only at CPL 0; VM stays 0 in IA-32e mode.
  const old = getFlags();
  let mask = IRET_ALWAYS;
  if (size == 4) mask &= 0xffff_ffff;
  if (cpl <= <u32>((old & FL_IOPL) >> 12)) mask |= FL_IF;
  if (cpl == 0) mask |= FL_IOPL | FL_VIF_VIP;
  // RF would only suppress instruction breakpoints for one instruction, and the CPU clears it
  // after the next one; with no breakpoints modelled it is dropped at once.
  const flags = ((old & ~mask) | (newFlags & mask)) & ~FL_RF;

  // SS is checked against the new privilege before anything changes.
  const nullSs = (ssSel & 0xfffc) == 0;
  if (nullSs && (rpl == 3 || !to64)) raise(EXC_GP, 0);
  const ss = nullSs ? 0 : checkStackSegment(ssSel, rpl);
  const oldCpl = cpl;
  loadCodeSegment(csSel, cs, rpl);
  if (nullSs) setNull(SEG_SS, ssSel);
  else loadFromDescriptor(SEG_SS, ssSel, ss);
  setFlags(flags);
  setReg64(RSP, to64 ? newRsp : newRsp & 0xffff_ffff);
  setNextRip(to64 ? newRip : newRip & 0xffff_ffff);
  // Returning outward: data segments the new CPL may not use become null (SDM IRET).
  if (rpl > oldCpl) {
    dropInaccessible(SEG_DS, rpl);
    dropInaccessible(SEG_ES, rpl);
    dropInaccessible(SEG_FS, rpl);
    dropInaccessible(SEG_GS, rpl);
  }
}

function dropInaccessible(seg: u32, newCpl: u32): void {
  const attr = segAttr(seg);
  if ((attr & A_UNUSABLE) != 0) return;
  const conformingCode = (attr & A_CODE) != 0 && (attr & A_CONFORMING) != 0;
  if (!conformingCode && attrDpl(attr) < newCpl) {
    // FS and GS keep their bases in 64-bit mode; only the selector and attributes go.
    const base = getSlot(S_SEGS + seg * 4 + 1);
    setSegment(seg, 0, seg >= SEG_FS ? base : 0, 0, A_UNUSABLE);
  }
}

