// SSE/SSE2 data movement (SDM Vol. 2, the instruction pages of the same names): aligned and
// unaligned 128-bit moves, scalar moves, the 64-bit half moves, MOVD/MOVQ between general and
// XMM registers, the sign-mask extractions, PINSRW/PEXTRW and MOVNTI. Every executor reads its
// source (which may fault) before it writes anything.

import { dOsize, dImm, dReg, dRm } from './decode';
import { ea, readE, writeE } from './operands';
import { readV, writeV } from './mmu';
import { regN, setRegN } from './state';
import {
  sseCheck, xmmG, xmmE, isMem, readW, writeW, readW64, readW32,
} from './sse';

// MOVUPS/MOVUPD/MOVDQU and MOVAPS/MOVAPD/MOVDQA/MOVNTPS/MOVNTPD/MOVNTDQ.
export function movuLoad(d: usize): void {
  sseCheck();
  v128.store(xmmG(d), readW(d, false));
}
export function movaLoad(d: usize): void {
  sseCheck();
  v128.store(xmmG(d), readW(d, true));
}
export function movuStore(d: usize): void {
  sseCheck();
  writeW(d, v128.load(xmmG(d)), false);
}
export function movaStore(d: usize): void {
  sseCheck();
  writeW(d, v128.load(xmmG(d)), true);
}

/** F3 0F 10: MOVSS; between registers the upper 96 bits stay, from memory they are zeroed. */
export function movssLoad(d: usize): void {
  sseCheck();
  const v = readW32(d);
  const p = xmmG(d);
  if (isMem(d)) {
    store<u64>(p, <u64>v);
    store<u64>(p, 0, 8);
  } else {
    store<u32>(p, v);
  }
}

/** F3 0F 11: MOVSS to a register (low 32 bits) or to memory. */
export function movssStore(d: usize): void {
  sseCheck();
  const v = load<u32>(xmmG(d));
  if (isMem(d)) writeV(ea(d), 4, <u64>v);
  else store<u32>(xmmE(d), v);
}

/** F2 0F 10: MOVSD; between registers the upper half stays, from memory it is zeroed. */
export function movsdLoad(d: usize): void {
  sseCheck();
  const v = readW64(d);
  const p = xmmG(d);
  store<u64>(p, v);
  if (isMem(d)) store<u64>(p, 0, 8);
}

export function movsdStore(d: usize): void {
  sseCheck();
  const v = load<u64>(xmmG(d));
  if (isMem(d)) writeV(ea(d), 8, v);
  else store<u64>(xmmE(d), v);
}

/** 0F 12 / 66 0F 12 with memory: MOVLPS/MOVLPD load the low quadword. */
export function movlLoad(d: usize): void {
  sseCheck();
  store<u64>(xmmG(d), readV(ea(d), 8));
}

/** 0F 13 / 66 0F 13: MOVLPS/MOVLPD store the low quadword. */
export function movlStore(d: usize): void {
  sseCheck();
  writeV(ea(d), 8, load<u64>(xmmG(d)));
}

/** 0F 16 / 66 0F 16 with memory: MOVHPS/MOVHPD load the high quadword. */
export function movhLoad(d: usize): void {
  sseCheck();
  store<u64>(xmmG(d), readV(ea(d), 8), 8);
}

/** 0F 17 / 66 0F 17: MOVHPS/MOVHPD store the high quadword. */
export function movhStore(d: usize): void {
  sseCheck();
  writeV(ea(d), 8, load<u64>(xmmG(d), 8));
}

/** 0F 12 between registers: MOVHLPS, the source's high quadword to the destination's low. */
export function movhlps(d: usize): void {
  sseCheck();
  store<u64>(xmmG(d), load<u64>(xmmE(d), 8));
}

/** 0F 16 between registers: MOVLHPS, the source's low quadword to the destination's high. */
export function movlhps(d: usize): void {
  sseCheck();
  store<u64>(xmmG(d), load<u64>(xmmE(d)), 8);
}

/** 66 0F 6E: MOVD xmm, r/m32 (MOVQ xmm, r/m64 with REX.W), zero-extended to 128 bits. */
export function movdToX(d: usize): void {
  sseCheck();
  const v = readE(d, dOsize(d));
  const p = xmmG(d);
  store<u64>(p, v);
  store<u64>(p, 0, 8);
}

/** 66 0F 7E: MOVD r/m32, xmm (MOVQ r/m64, xmm with REX.W). */
export function movdFromX(d: usize): void {
  sseCheck();
  writeE(d, dOsize(d), load<u64>(xmmG(d)));
}

/** F3 0F 7E: MOVQ xmm, xmm/m64, zeroing the high quadword. */
export function movqLoad(d: usize): void {
  sseCheck();
  const v = readW64(d);
  const p = xmmG(d);
  store<u64>(p, v);
  store<u64>(p, 0, 8);
}

/** 66 0F D6: MOVQ xmm/m64, xmm; a register destination has its high quadword zeroed. */
export function movqStore(d: usize): void {
  sseCheck();
  const v = load<u64>(xmmG(d));
  if (isMem(d)) {
    writeV(ea(d), 8, v);
  } else {
    const p = xmmE(d);
    store<u64>(p, v);
    store<u64>(p, 0, 8);
  }
}

/** 0F 50: MOVMSKPS, the four sign bits into a general register (zero-extended). */
export function movmskps(d: usize): void {
  sseCheck();
  setRegN(dReg(d), 8, <u64>i32x4.bitmask(v128.load(xmmE(d))));
}

/** 66 0F 50: MOVMSKPD. */
export function movmskpd(d: usize): void {
  sseCheck();
  setRegN(dReg(d), 8, <u64>i64x2.bitmask(v128.load(xmmE(d))));
}

/** 66 0F D7: PMOVMSKB, the sixteen byte sign bits. */
export function pmovmskb(d: usize): void {
  sseCheck();
  setRegN(dReg(d), 8, <u64>i8x16.bitmask(v128.load(xmmE(d))));
}

/** 66 0F C4: PINSRW xmm, r32/m16, imm8. */
export function pinsrw(d: usize): void {
  sseCheck();
  const v = isMem(d) ? readV(ea(d), 2) : regN(dRm(d), 2);
  store<u16>(xmmG(d) + ((<usize>dImm(d) & 7) << 1), <u16>v);
}

/** 66 0F C5: PEXTRW r32, xmm, imm8 (zero-extended). */
export function pextrw(d: usize): void {
  sseCheck();
  setRegN(dReg(d), 8, <u64>load<u16>(xmmE(d) + ((<usize>dImm(d) & 7) << 1)));
}

/** 0F C3: MOVNTI m32/m64, r32/r64; an integer store, not subject to the SSE checks. */
export function movnti(d: usize): void {
  const size = dOsize(d);
  writeV(ea(d), size, regN(dReg(d), size));
}

