// Every executor the generated dispatch table may call, by the names x86_table.ts gives them.
export {
  aluEG, aluGE, aluAI, aluEI, testEG, testEI, testAI, incDec, incDecZ, notE, negE,
} from './alu';
export { mulE, imulE, divE, idivE, imulGE, imulGEI } from './muldiv';
export { shiftGrp, shxd } from './shift';
export { btEG, btEI, bsf, bsr } from './bitops';
export { xadd, cmpxchg, cmpxchg8b } from './exchange';
export {
  movEG,
  movGE,
  movEI,
  movZI,
  movAO,
  movOA,
  lea,
  movzxb,
  movzxw,
  movsxb,
  movsxw,
  movsxd,
  xchgEG,
  xchgZA,
  nop,
  bswapZ,
  cbw,
  cwd,
  cmovcc,
  setcc,
  xlat,
} from './move';
export {
  jcc,
  jmpRel,
  callRel,
  retNear,
  callE,
  jmpE,
  loop,
  pushZ,
  popZ,
  pushI,
  pushE,
  popE,
  pushf,
  popf,
  enter,
  leave,
} from './branch';
export { movs, stos, lods, scas, cmps } from './string';
export { inPort, outPort, hlt, flagOp, cpuid, ud, tooLong, sahf, lahf } from './system';
export {
  movRR64, movRR32, movLoad64, movLoad32, movStore64, movStore32,
  aluLoad64, aluLoad32,
  testRR64, testRR32, incDecR64, incDecR32, pushR64, popR64, callRel64, ret64,
  shiftR64, shiftR32, movzxbLoad,
} from './fast';
export {
  addRR64, orRR64, adcRR64, sbbRR64, andRR64, subRR64,
  xorRR64, cmpRR64, addRR32, orRR32, adcRR32, sbbRR32,
  andRR32, subRR32, xorRR32, cmpRR32, addRI64, orRI64,
  adcRI64, sbbRI64, andRI64, subRI64, xorRI64, cmpRI64,
  addRI32, orRI32, adcRI32, sbbRI32, andRI32, subRI32,
  xorRI32, cmpRI32, jz64, jnz64,
} from './fast_alu';
export { intN, iret } from './interrupts';
export { rdmsr, wrmsr, rdtsc, syscall, sysret } from './msr';
export { movFromCr, movToCr, movDr, clts, wbinvd, group6, group7 } from './privileged';
export {
  movToSreg, movFromSreg, pushSreg, popSreg, loadFarPointer, jmpFar, callFar, retFar,
} from './segments';
export { fxsave, fxrstor, ldmxcsr, stmxcsr, fence } from './sse';
export { fwait, fldcw, fnstcw, fnstsw, fnclex, fninit, emms, fild } from './fpu';
export {
  movuLoad, movaLoad, movuStore, movaStore, movssLoad, movssStore, movsdLoad, movsdStore,
  movlLoad, movlStore, movhLoad, movhStore, movhlps, movlhps, movdToX, movdFromX, movqLoad,
  movqStore, movmskps, movmskpd, pmovmskb, pinsrw, pextrw, movnti,
} from './sse_move';
export {
  pand, pandn, por, pxor, paddb, paddw, paddd, paddq, psubb, psubw, psubd, psubq, paddsb,
  paddsw, paddusb, paddusw, psubsb, psubsw, psubusb, psubusw, pcmpeqb, pcmpeqw, pcmpeqd,
  pcmpgtb, pcmpgtw, pcmpgtd, pminub, pmaxub, pminsw, pmaxsw, pavgb, pavgw, pmullw, pmulhw,
  pmulhuw, pmuludq, pmaddwd, psadbw, packsswb, packuswb, packssdw, punpcklbw, punpckhbw,
  punpcklwd, punpckhwd, punpckldq, punpckhdq, punpcklqdq, punpckhqdq, pshufd, pshufhw, pshuflw,
  shufps, shufpd, psrlw, psrld, psrlq, psllw, pslld, psllq, psraw, psrad, psrlwI, psrldI,
  psrlqI, psllwI, pslldI, psllqI, psrawI, psradI, psrldqI, pslldqI,
} from './sse_int';
export {
  fpArithPs, fpArithPd, fpArithSs, fpArithSd, sqrtPs, sqrtPd, sqrtSs, sqrtSd, cmpPs, cmpPd,
  cmpSs, cmpSd, comiss, comisd, cvtsi2ss, cvtsi2sd, cvtss2si, cvttss2si, cvtsd2si, cvttsd2si,
  cvtss2sd, cvtsd2ss, cvtps2pd, cvtpd2ps, cvtdq2ps, cvtdq2pd, cvtps2dq, cvttps2dq, cvtpd2dq,
  cvttpd2dq, rcpPs, rcpSs, rsqrtPs, rsqrtSs,
} from './sse_float';
