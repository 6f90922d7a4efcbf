/**
 * The x87, SSE and SSE2 rows of the opcode table (appended to OPCODE_TABLE in x86_table.ts):
 * the FXSAVE/MXCSR state instructions, the x87 control instructions, the SSE/SSE2 moves, the
 * SSE2 integer operations, and the floating-point arithmetic, comparisons and conversions.
 * Operand notation as in x86_table.ts, plus the SDM's vector operands (Vol. 2, Appendix A.2):
 * V = XMM register in ModRM.reg, W = XMM register or memory in ModRM.rm, U = XMM register in
 * ModRM.rm, R = general register in ModRM.rm, M = memory only; suffixes ps/pd (packed
 * single/double, 128 bits), ss/sd (scalar, 32/64 bits), x/dq (128 bits), q (64 bits), d (32
 * bits), y (32 or 64 bits by REX.W).
 *
 * Most 0F-map opcodes here have a mandatory prefix (`prefix`): `66 0F 6F` is MOVDQA, `F3 0F 6F`
 * MOVDQU, and the unprefixed `0F 6F` (MMX MOVQ) is absent, so it raises #UD: CPUID does not
 * advertise MMX. The only MMX-space instruction kept is EMMS, which Linux executes whatever
 * CPUID says. The x87 instructions other than those listed here raise #UD.
 *
 * The floating-point forms have an executor each by name, but they all run through one worker
 * (core/sse_float.ts), which keeps them out of the run loop's code.
 */

import type { OpcodeForm } from './x86_table.js';

/** Mandatory-prefix values of {@link OpcodeForm.prefix}. */
const NP = 0;
const P66 = 0x66;
const F3 = 0xf3;
const F2 = 0xf2;
/** ImmKind.ib (kept as a number: x86_table.ts imports this module). */
const IB = 1;

type Extra = Partial<Pick<OpcodeForm, 'ext' | 'mod' | 'rm' | 'imm'>>;

function form(
  opcode: number,
  prefix: number | undefined,
  mnemonic: string,
  operands: readonly string[],
  handler: string,
  extra: Extra = {},
): OpcodeForm {
  return {
    opcode,
    ...(prefix === undefined ? {} : { prefix }),
    mnemonic,
    operands,
    handler,
    modrm: true,
    ...extra,
  };
}

/** FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, the fences and the non-temporal stores. */
function stateForms(): OpcodeForm[] {
  const mem = { mod: 'mem' } as const;
  const reg = { mod: 'reg' } as const;
  return [
    // REX.W selects the 64-bit layout (FXSAVE64/FXRSTOR64) in the executor.
    form(0x0fae, NP, 'fxsave', ['M'], 'fxsave', { ext: 0, ...mem }),
    form(0x0fae, NP, 'fxrstor', ['M'], 'fxrstor', { ext: 1, ...mem }),
    form(0x0fae, NP, 'ldmxcsr', ['Md'], 'ldmxcsr', { ext: 2, ...mem }),
    form(0x0fae, NP, 'stmxcsr', ['Md'], 'stmxcsr', { ext: 3, ...mem }),
    form(0x0fae, NP, 'lfence', [], 'fence', { ext: 5, ...reg }),
    form(0x0fae, NP, 'mfence', [], 'fence', { ext: 6, ...reg }),
    form(0x0fae, NP, 'sfence', [], 'fence', { ext: 7, ...reg }),
    form(0x0fc3, NP, 'movnti', ['My', 'Gy'], 'movnti', mem),
    form(0x0f2b, NP, 'movntps', ['Mps', 'Vps'], 'movaStore', mem),
    form(0x0f2b, P66, 'movntpd', ['Mpd', 'Vpd'], 'movaStore', mem),
    form(0x0fe7, P66, 'movntdq', ['Mx', 'Vx'], 'movaStore', mem),
    { opcode: 0x0f77, prefix: NP, mnemonic: 'emms', operands: [], handler: 'emms' },
  ];
}

/**
 * The x87 instructions Linux and glibc use on the FPU's own state (SDM Vol. 1, 8.1), and FILD,
 * which Linux executes before every FXRSTOR on AMD CPUs without CPUID's XSaveErPtr.
 */
function x87Forms(): OpcodeForm[] {
  const plain = { modrm: false } as const;
  return [
    { opcode: 0x9b, mnemonic: 'fwait', operands: [], handler: 'fwait', ...plain },
    form(0xd9, undefined, 'fldcw', ['Mw'], 'fldcw', { ext: 5, mod: 'mem' }),
    form(0xd9, undefined, 'fnstcw', ['Mw'], 'fnstcw', { ext: 7, mod: 'mem' }),
    form(0xdd, undefined, 'fnstsw', ['Mw'], 'fnstsw', { ext: 7, mod: 'mem' }),
    form(0xdf, undefined, 'fnstsw', ['AX'], 'fnstsw', { ext: 4, mod: 'reg', rm: 0 }),
    form(0xdb, undefined, 'fnclex', [], 'fnclex', { ext: 4, mod: 'reg', rm: 2 }),
    form(0xdb, undefined, 'fninit', [], 'fninit', { ext: 4, mod: 'reg', rm: 3 }),
    form(0xdf, undefined, 'fild', ['Mw'], 'fild', { ext: 0, mod: 'mem' }),
    form(0xdb, undefined, 'fild', ['Md'], 'fild', { ext: 0, mod: 'mem' }),
    form(0xdf, undefined, 'fild', ['Mq'], 'fild', { ext: 5, mod: 'mem' }),
  ];
}

/** Loads, stores and register moves (SDM Vol. 2, MOVAPS … MOVQ). */
function moveForms(): OpcodeForm[] {
  const mem = { mod: 'mem' } as const;
  const reg = { mod: 'reg' } as const;
  return [
    form(0x0f10, NP, 'movups', ['Vps', 'Wps'], 'movuLoad'),
    form(0x0f10, P66, 'movupd', ['Vpd', 'Wpd'], 'movuLoad'),
    form(0x0f10, F3, 'movss', ['Vss', 'Wss'], 'movssLoad'),
    form(0x0f10, F2, 'movsd', ['Vsd', 'Wsd'], 'movsdLoad'),
    form(0x0f11, NP, 'movups', ['Wps', 'Vps'], 'movuStore'),
    form(0x0f11, P66, 'movupd', ['Wpd', 'Vpd'], 'movuStore'),
    form(0x0f11, F3, 'movss', ['Wss', 'Vss'], 'movssStore'),
    form(0x0f11, F2, 'movsd', ['Wsd', 'Vsd'], 'movsdStore'),
    form(0x0f12, NP, 'movlps', ['Vq', 'Mq'], 'movlLoad', mem),
    form(0x0f12, NP, 'movhlps', ['Vq', 'Uq'], 'movhlps', reg),
    form(0x0f12, P66, 'movlpd', ['Vq', 'Mq'], 'movlLoad', mem),
    form(0x0f13, NP, 'movlps', ['Mq', 'Vq'], 'movlStore', mem),
    form(0x0f13, P66, 'movlpd', ['Mq', 'Vq'], 'movlStore', mem),
    form(0x0f16, NP, 'movhps', ['Vq', 'Mq'], 'movhLoad', mem),
    form(0x0f16, NP, 'movlhps', ['Vq', 'Uq'], 'movlhps', reg),
    form(0x0f16, P66, 'movhpd', ['Vq', 'Mq'], 'movhLoad', mem),
    form(0x0f17, NP, 'movhps', ['Mq', 'Vq'], 'movhStore', mem),
    form(0x0f17, P66, 'movhpd', ['Mq', 'Vq'], 'movhStore', mem),
    form(0x0f28, NP, 'movaps', ['Vps', 'Wps'], 'movaLoad'),
    form(0x0f28, P66, 'movapd', ['Vpd', 'Wpd'], 'movaLoad'),
    form(0x0f29, NP, 'movaps', ['Wps', 'Vps'], 'movaStore'),
    form(0x0f29, P66, 'movapd', ['Wpd', 'Vpd'], 'movaStore'),
    form(0x0f6f, P66, 'movdqa', ['Vx', 'Wx'], 'movaLoad'),
    form(0x0f6f, F3, 'movdqu', ['Vx', 'Wx'], 'movuLoad'),
    form(0x0f7f, P66, 'movdqa', ['Wx', 'Vx'], 'movaStore'),
    form(0x0f7f, F3, 'movdqu', ['Wx', 'Vx'], 'movuStore'),
    // REX.W makes MOVD the 64-bit MOVQ.
    form(0x0f6e, P66, 'movd', ['Vy', 'Ey'], 'movdToX'),
    form(0x0f7e, P66, 'movd', ['Ey', 'Vy'], 'movdFromX'),
    form(0x0f7e, F3, 'movq', ['Vq', 'Wq'], 'movqLoad'),
    form(0x0fd6, P66, 'movq', ['Wq', 'Vq'], 'movqStore'),
    form(0x0f50, NP, 'movmskps', ['Gy', 'Ups'], 'movmskps', reg),
    form(0x0f50, P66, 'movmskpd', ['Gy', 'Upd'], 'movmskpd', reg),
    form(0x0fd7, P66, 'pmovmskb', ['Gy', 'Ux'], 'pmovmskb', reg),
    form(0x0fc4, P66, 'pinsrw', ['Vx', 'Ew', 'Ib'], 'pinsrw', { imm: IB }),
    form(0x0fc5, P66, 'pextrw', ['Gy', 'Ux', 'Ib'], 'pextrw', { imm: IB, ...reg }),
  ];
}

/** Shuffles, unpacks and bitwise operations of both kinds (PS/PD forms and 66 P forms). */
function shuffleForms(): OpcodeForm[] {
  const ib = { imm: IB };
  return [
    form(0x0f14, NP, 'unpcklps', ['Vps', 'Wps'], 'punpckldq'),
    form(0x0f14, P66, 'unpcklpd', ['Vpd', 'Wpd'], 'punpcklqdq'),
    form(0x0f15, NP, 'unpckhps', ['Vps', 'Wps'], 'punpckhdq'),
    form(0x0f15, P66, 'unpckhpd', ['Vpd', 'Wpd'], 'punpckhqdq'),
    form(0x0fc6, NP, 'shufps', ['Vps', 'Wps', 'Ib'], 'shufps', ib),
    form(0x0fc6, P66, 'shufpd', ['Vpd', 'Wpd', 'Ib'], 'shufpd', ib),
    form(0x0f70, P66, 'pshufd', ['Vx', 'Wx', 'Ib'], 'pshufd', ib),
    form(0x0f70, F3, 'pshufhw', ['Vx', 'Wx', 'Ib'], 'pshufhw', ib),
    form(0x0f70, F2, 'pshuflw', ['Vx', 'Wx', 'Ib'], 'pshuflw', ib),
    form(0x0f54, NP, 'andps', ['Vps', 'Wps'], 'pand'),
    form(0x0f54, P66, 'andpd', ['Vpd', 'Wpd'], 'pand'),
    form(0x0f55, NP, 'andnps', ['Vps', 'Wps'], 'pandn'),
    form(0x0f55, P66, 'andnpd', ['Vpd', 'Wpd'], 'pandn'),
    form(0x0f56, NP, 'orps', ['Vps', 'Wps'], 'por'),
    form(0x0f56, P66, 'orpd', ['Vpd', 'Wpd'], 'por'),
    form(0x0f57, NP, 'xorps', ['Vps', 'Wps'], 'pxor'),
    form(0x0f57, P66, 'xorpd', ['Vpd', 'Wpd'], 'pxor'),
  ];
}

/** 66 0F xx: the SSE2 integer operations on XMM registers, one executor each. */
const INTEGER_OPS: readonly (readonly [number, string])[] = [
  [0x60, 'punpcklbw'],
  [0x61, 'punpcklwd'],
  [0x62, 'punpckldq'],
  [0x63, 'packsswb'],
  [0x64, 'pcmpgtb'],
  [0x65, 'pcmpgtw'],
  [0x66, 'pcmpgtd'],
  [0x67, 'packuswb'],
  [0x68, 'punpckhbw'],
  [0x69, 'punpckhwd'],
  [0x6a, 'punpckhdq'],
  [0x6b, 'packssdw'],
  [0x6c, 'punpcklqdq'],
  [0x6d, 'punpckhqdq'],
  [0x74, 'pcmpeqb'],
  [0x75, 'pcmpeqw'],
  [0x76, 'pcmpeqd'],
  [0xd1, 'psrlw'],
  [0xd2, 'psrld'],
  [0xd3, 'psrlq'],
  [0xd4, 'paddq'],
  [0xd5, 'pmullw'],
  [0xd8, 'psubusb'],
  [0xd9, 'psubusw'],
  [0xda, 'pminub'],
  [0xdb, 'pand'],
  [0xdc, 'paddusb'],
  [0xdd, 'paddusw'],
  [0xde, 'pmaxub'],
  [0xdf, 'pandn'],
  [0xe0, 'pavgb'],
  [0xe1, 'psraw'],
  [0xe2, 'psrad'],
  [0xe3, 'pavgw'],
  [0xe4, 'pmulhuw'],
  [0xe5, 'pmulhw'],
  [0xe8, 'psubsb'],
  [0xe9, 'psubsw'],
  [0xea, 'pminsw'],
  [0xeb, 'por'],
  [0xec, 'paddsb'],
  [0xed, 'paddsw'],
  [0xee, 'pmaxsw'],
  [0xef, 'pxor'],
  [0xf1, 'psllw'],
  [0xf2, 'pslld'],
  [0xf3, 'psllq'],
  [0xf4, 'pmuludq'],
  [0xf5, 'pmaddwd'],
  [0xf6, 'psadbw'],
  [0xf8, 'psubb'],
  [0xf9, 'psubw'],
  [0xfa, 'psubd'],
  [0xfb, 'psubq'],
  [0xfc, 'paddb'],
  [0xfd, 'paddw'],
  [0xfe, 'paddd'],
];

/** Shifts by an immediate: 66 0F 71/72/73 with a register operand (groups 12–14). */
const SHIFT_IMM: readonly (readonly [number, number, string])[] = [
  [0x71, 2, 'psrlw'],
  [0x71, 4, 'psraw'],
  [0x71, 6, 'psllw'],
  [0x72, 2, 'psrld'],
  [0x72, 4, 'psrad'],
  [0x72, 6, 'pslld'],
  [0x73, 2, 'psrlq'],
  [0x73, 3, 'psrldq'],
  [0x73, 6, 'psllq'],
  [0x73, 7, 'pslldq'],
];

function integerForms(): OpcodeForm[] {
  return [
    ...INTEGER_OPS.map(([op, name]) => form(0x0f00 | op, P66, name, ['Vx', 'Wx'], name)),
    ...SHIFT_IMM.map(([op, ext, name]) =>
      form(0x0f00 | op, P66, name, ['Ux', 'Ib'], `${name}I`, { ext, mod: 'reg', imm: IB }),
    ),
  ];
}

/** 0F xx: the floating-point operations with a PS, PD, SS and SD form each (low opcode byte). */
const FLOAT_OPS: readonly (readonly [number, string, string])[] = [
  [0x51, 'sqrt', 'sqrt'],
  [0x58, 'add', 'fpArith'],
  [0x59, 'mul', 'fpArith'],
  [0x5c, 'sub', 'fpArith'],
  [0x5d, 'min', 'fpArith'],
  [0x5e, 'div', 'fpArith'],
  [0x5f, 'max', 'fpArith'],
];

/**
 * Floating-point arithmetic, comparisons and reciprocal approximations (SDM Vol. 2, ADDPS …
 * UCOMISD). CMPPS … CMPSD take the predicate in imm8[2:0]; the MMX-register forms of the
 * conversions are absent (#UD), as MMX is not advertised.
 */
function floatForms(): OpcodeForm[] {
  const ib = { imm: IB };
  return [
    ...FLOAT_OPS.flatMap(([op, name, handler]) => [
      form(0x0f00 | op, NP, `${name}ps`, ['Vps', 'Wps'], `${handler}Ps`),
      form(0x0f00 | op, P66, `${name}pd`, ['Vpd', 'Wpd'], `${handler}Pd`),
      form(0x0f00 | op, F3, `${name}ss`, ['Vss', 'Wss'], `${handler}Ss`),
      form(0x0f00 | op, F2, `${name}sd`, ['Vsd', 'Wsd'], `${handler}Sd`),
    ]),
    form(0x0fc2, NP, 'cmpps', ['Vps', 'Wps', 'Ib'], 'cmpPs', ib),
    form(0x0fc2, P66, 'cmppd', ['Vpd', 'Wpd', 'Ib'], 'cmpPd', ib),
    form(0x0fc2, F3, 'cmpss', ['Vss', 'Wss', 'Ib'], 'cmpSs', ib),
    form(0x0fc2, F2, 'cmpsd', ['Vsd', 'Wsd', 'Ib'], 'cmpSd', ib),
    form(0x0f2e, NP, 'ucomiss', ['Vss', 'Wss'], 'comiss'),
    form(0x0f2e, P66, 'ucomisd', ['Vsd', 'Wsd'], 'comisd'),
    form(0x0f2f, NP, 'comiss', ['Vss', 'Wss'], 'comiss'),
    form(0x0f2f, P66, 'comisd', ['Vsd', 'Wsd'], 'comisd'),
    form(0x0f52, NP, 'rsqrtps', ['Vps', 'Wps'], 'rsqrtPs'),
    form(0x0f52, F3, 'rsqrtss', ['Vss', 'Wss'], 'rsqrtSs'),
    form(0x0f53, NP, 'rcpps', ['Vps', 'Wps'], 'rcpPs'),
    form(0x0f53, F3, 'rcpss', ['Vss', 'Wss'], 'rcpSs'),
  ];
}

/** Conversions between integers, singles and doubles (REX.W selects 64-bit integers). */
function convertForms(): OpcodeForm[] {
  return [
    form(0x0f2a, F3, 'cvtsi2ss', ['Vss', 'Ey'], 'cvtsi2ss'),
    form(0x0f2a, F2, 'cvtsi2sd', ['Vsd', 'Ey'], 'cvtsi2sd'),
    form(0x0f2c, F3, 'cvttss2si', ['Gy', 'Wss'], 'cvttss2si'),
    form(0x0f2c, F2, 'cvttsd2si', ['Gy', 'Wsd'], 'cvttsd2si'),
    form(0x0f2d, F3, 'cvtss2si', ['Gy', 'Wss'], 'cvtss2si'),
    form(0x0f2d, F2, 'cvtsd2si', ['Gy', 'Wsd'], 'cvtsd2si'),
    // CVTPS2PD and CVTDQ2PD read 64 bits (xmm/m64), without an alignment rule.
    form(0x0f5a, NP, 'cvtps2pd', ['Vpd', 'Wq'], 'cvtps2pd'),
    form(0x0f5a, P66, 'cvtpd2ps', ['Vps', 'Wpd'], 'cvtpd2ps'),
    form(0x0f5a, F3, 'cvtss2sd', ['Vsd', 'Wss'], 'cvtss2sd'),
    form(0x0f5a, F2, 'cvtsd2ss', ['Vss', 'Wsd'], 'cvtsd2ss'),
    form(0x0f5b, NP, 'cvtdq2ps', ['Vps', 'Wx'], 'cvtdq2ps'),
    form(0x0f5b, P66, 'cvtps2dq', ['Vx', 'Wps'], 'cvtps2dq'),
    form(0x0f5b, F3, 'cvttps2dq', ['Vx', 'Wps'], 'cvttps2dq'),
    form(0x0fe6, P66, 'cvttpd2dq', ['Vx', 'Wpd'], 'cvttpd2dq'),
    form(0x0fe6, F3, 'cvtdq2pd', ['Vpd', 'Wq'], 'cvtdq2pd'),
    form(0x0fe6, F2, 'cvtpd2dq', ['Vx', 'Wpd'], 'cvtpd2dq'),
  ];
}

/** Every x87/SSE/SSE2 form of the engine. */
export function sseForms(): OpcodeForm[] {
  return [
    ...stateForms(),
    ...x87Forms(),
    ...moveForms(),
    ...shuffleForms(),
    ...integerForms(),
    ...floatForms(),
    ...convertForms(),
  ];
}
