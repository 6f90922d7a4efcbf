// The executors of the SSE/SSE2 floating-point forms (x86_table_sse.ts), one per form as the
// table names them, all running through one worker that picks the operation by the record's
// handler id: sse_fp.ts (arithmetic, comparisons) and sse_convert.ts (conversions, reciprocal
// approximations) do the work.
//
// Why one worker: the generated dispatch inlines every executor into the run loop's switch, and
// each distinct case there changes how the whole loop is compiled (register allocation over
// the switch), which measurably slowed the integer forms. These executors have identical
// bodies, so the optimizer merges them into one function and their cases into one.

import { D_HANDLER } from './decode';
import { raiseUD } from './exceptions';
import {
  H_fpArithPs, H_fpArithPd, H_fpArithSs, H_fpArithSd, H_sqrtPs, H_sqrtPd, H_sqrtSs, H_sqrtSd,
  H_cmpPs, H_cmpPd, H_cmpSs, H_cmpSd, H_comiss, H_comisd, H_cvtsi2ss, H_cvtsi2sd, H_cvtss2si,
  H_cvttss2si, H_cvtsd2si, H_cvttsd2si, H_cvtss2sd, H_cvtsd2ss, H_cvtps2pd, H_cvtpd2ps,
  H_cvtdq2ps, H_cvtdq2pd, H_cvtps2dq, H_cvttps2dq, H_cvtpd2dq, H_cvttpd2dq, H_rcpPs, H_rcpSs,
  H_rsqrtPs, H_rsqrtSs,
} from './gen/table';
import { floatOp, comis, ARITH, SQRT, CMP, DOUBLE, SCALAR } from './sse_fp';
import {
  convert, I2S, I2D, S2I, D2I, S2D, D2S, RCP, RSQRT, TRUNC, FROM_E, FROM_32, FROM_64, FROM_128,
  TO_LANES, TO_ZEROED, TO_GPR, ONE, TWO, FOUR,
} from './sse_convert';

const PD: u32 = DOUBLE;
const SS: u32 = SCALAR;
const SD: u32 = SCALAR | DOUBLE;

function sseFloat(d: usize): void {
  switch (<u32>load<u16>(d, D_HANDLER)) {
    // ADD, SUB, MUL, DIV, MIN, MAX by opcode; SQRT; CMP by imm8.
    case H_fpArithPs: floatOp(d, ARITH); return;
    case H_fpArithPd: floatOp(d, ARITH | PD); return;
    case H_fpArithSs: floatOp(d, ARITH | SS); return;
    case H_fpArithSd: floatOp(d, ARITH | SD); return;
    case H_sqrtPs: floatOp(d, SQRT); return;
    case H_sqrtPd: floatOp(d, SQRT | PD); return;
    case H_sqrtSs: floatOp(d, SQRT | SS); return;
    case H_sqrtSd: floatOp(d, SQRT | SD); return;
    case H_cmpPs: floatOp(d, CMP); return;
    case H_cmpPd: floatOp(d, CMP | PD); return;
    case H_cmpSs: floatOp(d, CMP | SS); return;
    case H_cmpSd: floatOp(d, CMP | SD); return;
    // COMISS/UCOMISS, COMISD/UCOMISD by opcode.
    case H_comiss: comis(d, 0); return;
    case H_comisd: comis(d, 1); return;
    // F3/F2 0F 2A: CVTSI2SS, CVTSI2SD (xmm, r/m32 or r/m64).
    case H_cvtsi2ss: convert(d, I2S | FROM_E | TO_LANES | ONE); return;
    case H_cvtsi2sd: convert(d, I2D | FROM_E | TO_LANES | ONE); return;
    // F3/F2 0F 2D, 2C: CVTSS2SI, CVTTSS2SI, CVTSD2SI, CVTTSD2SI.
    case H_cvtss2si: convert(d, S2I | FROM_32 | TO_GPR | ONE); return;
    case H_cvttss2si: convert(d, S2I | TRUNC | FROM_32 | TO_GPR | ONE); return;
    case H_cvtsd2si: convert(d, D2I | FROM_64 | TO_GPR | ONE); return;
    case H_cvttsd2si: convert(d, D2I | TRUNC | FROM_64 | TO_GPR | ONE); return;
    // 0F 5A: CVTSS2SD, CVTSD2SS (the low lane), CVTPS2PD (xmm/m64), CVTPD2PS (high half zeroed).
    case H_cvtss2sd: convert(d, S2D | FROM_32 | TO_LANES | ONE); return;
    case H_cvtsd2ss: convert(d, D2S | FROM_64 | TO_LANES | ONE); return;
    case H_cvtps2pd: convert(d, S2D | FROM_64 | TO_LANES | TWO); return;
    case H_cvtpd2ps: convert(d, D2S | FROM_128 | TO_ZEROED | TWO); return;
    // 0F 5B: CVTDQ2PS, CVTPS2DQ, CVTTPS2DQ.
    case H_cvtdq2ps: convert(d, I2S | FROM_128 | TO_LANES | FOUR); return;
    case H_cvtps2dq: convert(d, S2I | FROM_128 | TO_LANES | FOUR); return;
    case H_cvttps2dq: convert(d, S2I | TRUNC | FROM_128 | TO_LANES | FOUR); return;
    // 0F E6: CVTDQ2PD (xmm/m64, exact), CVTPD2DQ, CVTTPD2DQ (high half zeroed).
    case H_cvtdq2pd: convert(d, I2D | FROM_64 | TO_LANES | TWO); return;
    case H_cvtpd2dq: convert(d, D2I | FROM_128 | TO_ZEROED | TWO); return;
    case H_cvttpd2dq: convert(d, D2I | TRUNC | FROM_128 | TO_ZEROED | TWO); return;
    // 0F 53, 52: RCPPS, RCPSS, RSQRTPS, RSQRTSS (no exceptions).
    case H_rcpPs: convert(d, RCP | FROM_128 | TO_LANES | FOUR); return;
    case H_rcpSs: convert(d, RCP | FROM_32 | TO_LANES | ONE); return;
    case H_rsqrtPs: convert(d, RSQRT | FROM_128 | TO_LANES | FOUR); return;
    case H_rsqrtSs: convert(d, RSQRT | FROM_32 | TO_LANES | ONE); return;
    default: raiseUD(); // an executor below without its case here
  }
}

export function fpArithPs(d: usize): void { sseFloat(d); }
export function fpArithPd(d: usize): void { sseFloat(d); }
export function fpArithSs(d: usize): void { sseFloat(d); }
export function fpArithSd(d: usize): void { sseFloat(d); }
export function sqrtPs(d: usize): void { sseFloat(d); }
export function sqrtPd(d: usize): void { sseFloat(d); }
export function sqrtSs(d: usize): void { sseFloat(d); }
export function sqrtSd(d: usize): void { sseFloat(d); }
export function cmpPs(d: usize): void { sseFloat(d); }
export function cmpPd(d: usize): void { sseFloat(d); }
export function cmpSs(d: usize): void { sseFloat(d); }
export function cmpSd(d: usize): void { sseFloat(d); }
export function comiss(d: usize): void { sseFloat(d); }
export function comisd(d: usize): void { sseFloat(d); }
export function cvtsi2ss(d: usize): void { sseFloat(d); }
export function cvtsi2sd(d: usize): void { sseFloat(d); }
export function cvtss2si(d: usize): void { sseFloat(d); }
export function cvttss2si(d: usize): void { sseFloat(d); }
export function cvtsd2si(d: usize): void { sseFloat(d); }
export function cvttsd2si(d: usize): void { sseFloat(d); }
export function cvtss2sd(d: usize): void { sseFloat(d); }
export function cvtsd2ss(d: usize): void { sseFloat(d); }
export function cvtps2pd(d: usize): void { sseFloat(d); }
export function cvtpd2ps(d: usize): void { sseFloat(d); }
export function cvtdq2ps(d: usize): void { sseFloat(d); }
export function cvtdq2pd(d: usize): void { sseFloat(d); }
export function cvtps2dq(d: usize): void { sseFloat(d); }
export function cvttps2dq(d: usize): void { sseFloat(d); }
export function cvtpd2dq(d: usize): void { sseFloat(d); }
export function cvttpd2dq(d: usize): void { sseFloat(d); }
export function rcpPs(d: usize): void { sseFloat(d); }
export function rcpSs(d: usize): void { sseFloat(d); }
export function rsqrtPs(d: usize): void { sseFloat(d); }
export function rsqrtSs(d: usize): void { sseFloat(d); }
