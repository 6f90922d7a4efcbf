// The instruction decoder (SDM Vol. 2, chapter 2): legacy prefixes, REX, the one- and two-byte
// opcode maps, ModRM/SIB with 16-, 32- and 64-bit addressing, RIP-relative operands,
// displacements and immediates. It writes a decoded record that the executors read; the opcode
// properties come from the tables generated from src/engine/soft/x86_table.ts.

import { OP_INFO, GROUP_INFO, PREFIX_INFO } from './gen/table';
import { fetch8 } from './mmu';
import { FETCHED } from './layout';
import { mode, SEG_DEFAULT, SEG_SS, SEG_DS, SEG_ES, SEG_CS, SEG_FS, SEG_GS } from './state';
import { specialize } from './fast';
import { H_tooLong } from './gen/table';

// Opcode info word, as written by scripts/gen_x86_table.mjs.
export const INFO_HANDLER: u32 = 0x3ff;
export const INFO_MODRM: u32 = 1 << 10;
export const INFO_IMM_SHIFT: u32 = 11;
export const INFO_BYTE: u32 = 1 << 14;
export const INFO_D64: u32 = 1 << 15;
export const INFO_F64: u32 = 1 << 16;
export const INFO_I64: u32 = 1 << 17;
export const INFO_LOCK: u32 = 1 << 18;
export const INFO_GROUP: u32 = 1 << 19;
/** Group and prefix-table index of a GROUP or PREFIXED word (11 bits). */
export const INFO_GROUP_SHIFT: u32 = 20;
const INFO_INDEX_MASK: u32 = 0x7ff;
/** The opcode has mandatory-prefix forms: PREFIX_INFO holds one word per prefix column. */
export const INFO_PREFIXED: u32 = 1 << 31;

// Mandatory-prefix columns of PREFIX_INFO.
const PFX_66: u32 = 1;
const PFX_F3: u32 = 2;
const PFX_F2: u32 = 3;

// Immediate kinds (ImmKind in x86_table.ts).
const IMM_IB: u32 = 1;
const IMM_IW: u32 = 2;
const IMM_IZ: u32 = 3;
const IMM_IV: u32 = 4;
const IMM_IWIB: u32 = 5;
const IMM_MOFFS: u32 = 6;

// Decoded record fields (byte offsets).
export const D_HANDLER: usize = 0; // u16
export const D_LEN: usize = 2; // u8: instruction length
export const D_OSIZE: usize = 3; // u8: operand size in bytes (1 for byte forms)
export const D_ASIZE: usize = 4; // u8: address size in bytes
export const D_SEG: usize = 5; // u8: segment of the memory operand
export const D_REP: usize = 6; // u8: 0, REP_E (F3) or REP_NE (F2)
export const D_LOCK: usize = 7; // u8
export const D_REG: usize = 8; // u8: ModRM.reg (with REX.R) or the opcode's register
export const D_RM: usize = 9; // u8: register operand of ModRM.rm, RM_MEM for memory
export const D_BASE: usize = 10; // u8: base register, BASE_RIP, or NO_REG
export const D_INDEX: usize = 11; // u8: index register or NO_REG
export const D_SCALE: usize = 12; // u8: log2 of the scale
export const D_MODRM: usize = 13; // u8: the raw ModRM byte
export const D_OPCODE: usize = 14; // u16: map << 8 | opcode byte
export const D_DISP: usize = 16; // i32
export const D_IMM2: usize = 20; // u32: second immediate (ENTER)
export const D_IMM: usize = 24; // u64: immediate, sign-extended per the form
export const D_REX: usize = 32; // u8: the REX byte, 0 when absent
export const D_SIZE: usize = 40;

export const RM_MEM: u32 = 0xff;
export const NO_REG: u32 = 0xff;
export const BASE_RIP: u32 = 16;
export const REP_E: u32 = 1;
export const REP_NE: u32 = 2;

/** The longest legal instruction (SDM Vol. 2, 2.3.11). */
const MAX_LENGTH: u64 = 15;

let pos: u64 = 0;
let start: u64 = 0;
/** The instruction ran past MAX_LENGTH; it decodes as the #GP(0) executor. */
let overlong = false;

@inline function next8(): u32 {
  if (pos - start >= MAX_LENGTH) {
    // The CPU does not fetch beyond the limit; zeros end the decode without more fetches.
    overlong = true;
    return 0;
  }
  const b = fetch8(pos);
  // Kept for diagnostics: the bytes of an instruction that faults, even where they came from
  // MMIO and cannot be read again without side effects.
  store<u8>(FETCHED + <usize>(pos - start), <u8>b);
  pos++;
  fetchedCount = <u32>(pos - start);
  return b;
}

/** How many bytes of the current instruction the decoder has fetched (at FETCHED). */
export let fetchedCount: u32 = 0;

/** Forgets the fetched bytes (before a fetch that may fault ahead of any decode). */
export function clearFetched(): void {
  fetchedCount = 0;
}

function nextN(bytes: u32): u64 {
  let v: u64 = 0;
  for (let i: u32 = 0; i < bytes; i++) v |= <u64>next8() << (<u64>i << 3);
  return v;
}

@inline function sext8(v: u64): u64 { return <u64>(<i64>(<i8>v)); }
@inline function sext16(v: u64): u64 { return <u64>(<i64>(<i16>v)); }
@inline function sext32(v: u64): u64 { return <u64>(<i64>(<i32>v)); }

/**
 * Decodes the instruction at linear address `ip` into record `d`. Only fetching can fault
 * here (#PF, #GP on a fetch); an invalid or overlong instruction decodes to an executor that
 * raises its fault (#UD, #GP(0)) when it runs, so that code can be decoded ahead of execution.
 * Returns the instruction's length.
 */
export function decode(d: usize, ip: u64): u32 {
  start = ip;
  pos = ip;
  fetchedCount = 0;
  overlong = false;
  let op66 = false, op67 = false;
  let rep: u32 = 0, lock: u32 = 0, seg: u32 = SEG_DEFAULT, rex: u32 = 0;
  let b: u32;
  // Legacy prefixes in any order; a REX prefix counts only directly before the opcode.
  while (true) {
    b = next8();
    if (b == 0x66) op66 = true;
    else if (b == 0x67) op67 = true;
    else if (b == 0xf3) rep = REP_E;
    else if (b == 0xf2) rep = REP_NE;
    else if (b == 0xf0) lock = 1;
    else if (b == 0x26) seg = SEG_ES;
    else if (b == 0x2e) seg = SEG_CS;
    else if (b == 0x36) seg = SEG_SS;
    else if (b == 0x3e) seg = SEG_DS;
    else if (b == 0x64) seg = SEG_FS;
    else if (b == 0x65) seg = SEG_GS;
    else if (mode == 64 && (b & 0xf0) == 0x40) { rex = b; continue; }
    else break;
    rex = 0;
  }
  let opcode = b;
  if (b == 0x0f) opcode = 0x100 | next8();
  let info = unchecked(OP_INFO[opcode]);
  if ((info & INFO_PREFIXED) != 0) {
    // A mandatory prefix selects the form: the last F2/F3, else 66 (SDM Vol. 2, 2.1.2). A 66
    // consumed this way is not an operand-size prefix.
    const column = rep == REP_E ? PFX_F3 : rep == REP_NE ? PFX_F2 : op66 ? PFX_66 : 0;
    if (column == PFX_66) op66 = false;
    info = unchecked(PREFIX_INFO[(((info >> INFO_GROUP_SHIFT) & INFO_INDEX_MASK) << 2) | column]);
  }
  let modrm: u32 = 0;
  const needModrm = (info & (INFO_MODRM | INFO_GROUP)) != 0;
  if (needModrm) modrm = next8();
  // MOV to/from CRn and DRn ignore the mod field: the operand is always a register (SDM MOV).
  if ((opcode & 0x1fc) == 0x120) modrm |= 0xc0;
  if ((info & INFO_GROUP) != 0) {
    // 16 entries per group: ModRM.reg, +8 for a register operand; x87 register forms go one
    // level further, by ModRM.rm.
    const sub = ((modrm >> 3) & 7) | (modrm >= 0xc0 ? 8 : 0);
    info = unchecked(GROUP_INFO[((info >> INFO_GROUP_SHIFT) << 4) | sub]);
    if ((info & INFO_GROUP) != 0) {
      info = unchecked(GROUP_INFO[((info >> INFO_GROUP_SHIFT) << 4) | (modrm & 7)]);
    }
  }
  const handler = info & INFO_HANDLER;
  // An undefined opcode faults before the CPU fetches anything past its ModRM byte.
  if (overlong || handler == 0 || (mode == 64 && (info & INFO_I64) != 0)) {
    return faulting(d, ip, overlong ? H_tooLong : 0);
  }

  // Operand size (SDM Vol. 1, 3.6; Vol. 2, 2.2.1.2 and Appendix A "d64"/"f64").
  let osize: u32;
  if ((info & INFO_BYTE) != 0) osize = 1;
  else if (mode == 64) {
    if ((rex & 8) != 0 || (info & INFO_F64) != 0) osize = 8;
    else if ((info & INFO_D64) != 0) osize = op66 ? 2 : 8;
    else osize = op66 ? 2 : 4;
  } else if (mode == 32) osize = op66 ? 2 : 4;
  else osize = op66 ? 4 : 2;
  const asize: u32 = mode == 64 ? (op67 ? 4 : 8) : mode == 32 ? (op67 ? 2 : 4) : (op67 ? 4 : 2);

  let reg: u32 = (modrm >> 3) & 7 | ((rex & 4) << 1);
  let rm: u32 = RM_MEM, base: u32 = NO_REG, index: u32 = NO_REG, scale: u32 = 0;
  let disp: u64 = 0;
  let defSeg: u32 = SEG_DS;
  if (needModrm) {
    const md = modrm >> 6;
    const low = modrm & 7;
    if (md == 3) {
      rm = low | ((rex & 1) << 3);
    } else if (asize == 2) {
      // 16-bit addressing (SDM Vol. 2, Table 2-1).
      if (low < 4) { base = low < 2 ? 3 : 5; index = (low & 1) != 0 ? 7 : 6; }
      else if (low == 4) base = 6;
      else if (low == 5) base = 7;
      else if (low == 6) base = md == 0 ? NO_REG : 5;
      else base = 3;
      if (base == 5) defSeg = SEG_SS;
      if (md == 0 && low == 6) disp = sext16(nextN(2));
      else if (md == 1) disp = sext8(next8());
      else if (md == 2) disp = sext16(nextN(2));
    } else {
      // 32/64-bit addressing (SDM Vol. 2, Tables 2-2 and 2-3).
      if (low == 4) {
        const sib = next8();
        scale = sib >> 6;
        const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        if (idx != 4) index = idx;
        const sbase = sib & 7;
        if (sbase == 5 && md == 0) { base = NO_REG; disp = sext32(nextN(4)); }
        else base = sbase | ((rex & 1) << 3);
      } else if (low == 5 && md == 0) {
        base = mode == 64 ? BASE_RIP : NO_REG;
        disp = sext32(nextN(4));
      } else {
        base = low | ((rex & 1) << 3);
      }
      if (base == 4 || base == 5) defSeg = SEG_SS;
      if (md == 1) disp = sext8(next8());
      else if (md == 2) disp = sext32(nextN(4));
    }
  } else {
    reg = (opcode & 7) | ((rex & 1) << 3);
  }
  let imm: u64 = 0, imm2: u32 = 0;
  const kind = (info >> INFO_IMM_SHIFT) & 7;
  if (kind == IMM_IB) imm = sext8(next8());
  else if (kind == IMM_IW) imm = nextN(2);
  else if (kind == IMM_IZ) imm = osize == 2 ? sext16(nextN(2)) : sext32(nextN(4));
  else if (kind == IMM_IV) imm = nextN(osize);
  else if (kind == IMM_IWIB) { imm = nextN(2); imm2 = next8(); }
  else if (kind == IMM_MOFFS) imm = nextN(asize);
  if (overlong) return faulting(d, ip, H_tooLong);
  // A bad LOCK faults only once the whole instruction is fetched (a fetch fault comes first).
  if (lock != 0 && ((info & INFO_LOCK) == 0 || rm != RM_MEM)) return faulting(d, ip, 0);

  store<u16>(d, <u16>specialize(handler, osize, rm, reg, opcode), D_HANDLER);
  store<u8>(d, <u8>(pos - ip), D_LEN);
  store<u8>(d, <u8>osize, D_OSIZE);
  store<u8>(d, <u8>asize, D_ASIZE);
  // 64-bit mode ignores ES/CS/SS/DS overrides (SDM Vol. 1, 3.3.7.1): the base register alone
  // decides whether a reference uses SS (and so faults #SS rather than #GP).
  if (mode == 64 && seg < SEG_FS) seg = SEG_DEFAULT;
  store<u8>(d, <u8>(seg == SEG_DEFAULT ? defSeg : seg), D_SEG);
  store<u8>(d, <u8>rep, D_REP);
  store<u8>(d, <u8>lock, D_LOCK);
  store<u8>(d, <u8>reg, D_REG);
  store<u8>(d, <u8>rm, D_RM);
  store<u8>(d, <u8>base, D_BASE);
  store<u8>(d, <u8>index, D_INDEX);
  store<u8>(d, <u8>scale, D_SCALE);
  store<u8>(d, <u8>modrm, D_MODRM);
  store<u16>(d, <u16>opcode, D_OPCODE);
  store<i32>(d, <i32>disp, D_DISP);
  store<u32>(d, imm2, D_IMM2);
  store<u64>(d, imm, D_IMM);
  store<u8>(d, <u8>rex, D_REX);
  return <u32>(pos - ip);
}

/** Writes a record whose executor raises a fault (handler 0 raises #UD). */
function faulting(d: usize, ip: u64, handler: u32): u32 {
  store<u16>(d, <u16>handler, D_HANDLER);
  store<u8>(d, <u8>(pos - ip), D_LEN);
  return <u32>(pos - ip);
}

/** True for a record that can only fault: decoding ahead stops after it. */
@inline export function isFaulting(d: usize): bool {
  const h = <u32>load<u16>(d, D_HANDLER);
  return h == 0 || h == H_tooLong;
}

// Accessors the executors use.
@inline export function dOsize(d: usize): u32 { return <u32>load<u8>(d, D_OSIZE); }
@inline export function dAsize(d: usize): u32 { return <u32>load<u8>(d, D_ASIZE); }
@inline export function dReg(d: usize): u32 { return <u32>load<u8>(d, D_REG); }
@inline export function dRm(d: usize): u32 { return <u32>load<u8>(d, D_RM); }
@inline export function dImm(d: usize): u64 { return load<u64>(d, D_IMM); }
@inline export function dOpcode(d: usize): u32 { return <u32>load<u16>(d, D_OPCODE); }
@inline export function dRex(d: usize): bool { return load<u8>(d, D_REX) != 0; }
@inline export function dRep(d: usize): u32 { return <u32>load<u8>(d, D_REP); }
@inline export function dLen(d: usize): u32 { return <u32>load<u8>(d, D_LEN); }
