/**
 * Compares the host's and the engine's outcome of a case, under the case's undefined-flag and
 * undefined-register masks, and explains a mismatch: the instruction bytes, their disassembly
 * (when binutils' objdump is installed), the inputs and every differing register, flag, fault
 * field and memory word.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPR_NAMES, vectorName } from '../../src/engine/types.js';
import { pattern } from './scratch.js';
import type { Case, Outcome } from './scratch.js';
import { compareImages, fieldValue, imageDiff, resetImage } from './fpu_state.js';

const RESET_IMAGE = resetImage();

/**
 * RFLAGS bits compared: CF PF AF ZF SF TF IF DF OF IOPL NT AC ID. RF is left out (faults set it
 * in the image the kernel saves), as are VM, VIF and VIP, which 64-bit code cannot change.
 */
export const FLAGS_COMPARED = 0x24_7fd5;

const FLAG_NAMES: readonly [number, string][] = [
  [0, 'CF'],
  [2, 'PF'],
  [4, 'AF'],
  [6, 'ZF'],
  [7, 'SF'],
  [8, 'TF'],
  [9, 'IF'],
  [10, 'DF'],
  [11, 'OF'],
  [12, 'IOPL0'],
  [13, 'IOPL1'],
  [14, 'NT'],
  [18, 'AC'],
  [21, 'ID'],
];

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Exceptions whose error code (and for #PF, CR2) the kernel passes on. */
const WITH_ERROR = new Set([12, 13, 14, 17]);

/** The differences between host outcome `n` and engine outcome `e`; empty when they agree. */
export function compare(c: Case, n: Outcome, e: Outcome): string[] {
  const out: string[] = [];
  if (n.signal !== e.signal || n.vector !== e.vector) {
    const fault = (o: Outcome): string =>
      WITH_ERROR.has(o.vector)
        ? ` error ${hex(o.errorCode)}${o.vector === 14 ? ` cr2 ${hex(o.cr2)}` : ''}`
        : '';
    out.push(
      `ended with: host signal ${n.signal} (${vectorName(n.vector)}${fault(n)}), ` +
        `engine ${e.signal < 0 ? 'no exception within the budget' : `signal ${e.signal} (${vectorName(e.vector)}${fault(e)})`}`,
    );
  }
  if (n.rip !== e.rip) out.push(`rip: host ${hex(n.rip)} engine ${hex(e.rip)}`);
  if (n.vector === e.vector && WITH_ERROR.has(n.vector) && n.errorCode !== e.errorCode) {
    out.push(`error code: host ${hex(n.errorCode)} engine ${hex(e.errorCode)}`);
  }
  if (n.vector === 14 && e.vector === 14 && n.cr2 !== e.cr2) {
    out.push(`cr2: host ${hex(n.cr2)} engine ${hex(e.cr2)}`);
  }
  GPR_NAMES.forEach((name, i) => {
    if ((c.undefinedRegs >> i) & 1) return;
    const a = n.regs[i] ?? 0n;
    const b = e.regs[i] ?? 0n;
    if (a !== b) out.push(`${name}: host ${hex(a)} engine ${hex(b)}`);
  });
  const mask = BigInt(FLAGS_COMPARED & ~c.undefinedFlags);
  if ((n.rflags & mask) !== (e.rflags & mask)) {
    const bits = FLAG_NAMES.filter(
      ([bit]) => ((n.rflags ^ e.rflags) & mask & (1n << BigInt(bit))) !== 0n,
    ).map(
      ([bit, name]) =>
        `${name} host ${(n.rflags >> BigInt(bit)) & 1n} engine ${(e.rflags >> BigInt(bit)) & 1n}`,
    );
    out.push(`rflags: host ${hex(n.rflags)} engine ${hex(e.rflags)} (${bits.join(', ')})`);
  }
  if (c.undefinedMemory !== true && n.memory !== e.memory && !memoryMatches(c, n, e)) {
    out.push(`memory changed: host ${n.memory} engine ${e.memory}`);
  }
  const input = c.fpu ?? RESET_IMAGE;
  let undefinedFpu = c.undefinedFpu;
  if (c.approx !== undefined) {
    const key = `x${c.approx.reg}`;
    const lanes = (1n << BigInt(32 * c.approx.lanes)) - 1n;
    undefinedFpu = { ...undefinedFpu, [key]: (undefinedFpu?.[key] ?? 0n) | lanes };
    const host = fieldValue(input, n.fpu, key);
    const engine = fieldValue(input, e.fpu, key);
    for (let i = 0; i < c.approx.lanes; i++) {
      const h = Number((host >> BigInt(32 * i)) & 0xffff_ffffn);
      const g = Number((engine >> BigInt(32 * i)) & 0xffff_ffffn);
      if (!approximatelyEqual(h, g)) {
        out.push(
          `${key} lane ${i} (${c.approx.kind}): host ${hex(h)} engine ${hex(g)} ` +
            `(beyond the SDM's 1.5 × 2^-12 relative error)`,
        );
      }
    }
  }
  const fpu = compareImages(input, n.fpu, e.fpu, undefinedFpu);
  if (fpu.length > 0) out.push(`x87/SSE state: ${fpu.join('; ')}`);
  return out;
}

const F32 = new DataView(new ArrayBuffer(4));
function float32(bits: number): number {
  F32.setUint32(0, bits);
  return F32.getFloat32(0);
}

/** Below the smallest normal binary32 number, where RCPPS may flush a result to zero. */
const TINY = 2 ** -126 * (1 + 2 ** -10);

/**
 * Two RCPPS/RSQRTPS results for the same input: `engine`'s is 1/x (or 1/√x) rounded to nearest
 * (core/sse_convert.ts), so the host's must lie within the SDM's relative error bound of it
 * (1.5 × 2^−12, plus the engine's own rounding). Special results (NaN, infinity, zero) must be
 * equal, except a zero against a result at the underflow threshold, where the SDM leaves the
 * flush to the implementation.
 */
function approximatelyEqual(host: number, engine: number): boolean {
  if (host === engine) return true;
  const h = float32(host);
  const g = float32(engine);
  if (!Number.isFinite(h) || !Number.isFinite(g)) return false;
  if (h === 0 || g === 0) {
    return (host ^ engine) >>> 31 === 0 && Math.max(Math.abs(h), Math.abs(g)) < TINY;
  }
  return Math.abs(h - g) <= (1.5 * 2 ** -12 + 2 ** -23) * Math.abs(g);
}

/** Parses a memory diff (`addr:qword,...` or `-`). */
function memoryWords(text: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  if (text === '-') return out;
  for (const part of text.split(',')) {
    const [addr = '0', value = '0'] = part.split(':');
    out.set(Number.parseInt(addr, 16), BigInt(`0x${value}`));
  }
  return out;
}

/** True when the memory diffs agree outside the case's memory mask. */
function memoryMatches(c: Case, n: Outcome, e: Outcome): boolean {
  if (c.memoryMask === undefined) return false;
  const a = memoryWords(n.memory);
  const b = memoryWords(e.memory);
  for (const addr of new Set([...a.keys(), ...b.keys()])) {
    const mask = c.memoryMask.find((m) => m.addr === addr)?.mask ?? 0n;
    const x = a.get(addr) ?? pattern(addr);
    const y = b.get(addr) ?? pattern(addr);
    if (((x ^ y) & ~mask) !== 0n) return false;
  }
  return true;
}

/** `objdump`'s reading of `bytes` at `rip`, or '' when objdump is not available. */
export function disassemble(bytes: Uint8Array, rip: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'difftest-'));
  try {
    const file = join(dir, 'snippet.bin');
    writeFileSync(file, bytes);
    const r = spawnSync(
      'objdump',
      ['-D', '-b', 'binary', '-m', 'i386:x86-64', '-M', 'intel', `--adjust-vma=${hex(rip)}`, file],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) return '';
    return r.stdout
      .split('\n')
      .filter((l) => /^\s+[0-9a-f]+:\t/.test(l))
      .map((l) => l.trim())
      .join('\n      ');
  } catch {
    return '';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A readable account of a mismatching case. */
export function describe(c: Case, diffs: readonly string[]): string {
  const bytes = [...c.code].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const lines = [`${c.label}: ${bytes} at ${hex(c.rip)}`];
  const dis = disassemble(c.code, c.rip);
  if (dis !== '') lines.push(`    objdump: ${dis}`);
  if (c.nativeCode) {
    lines.push(
      `    host runs: ${[...c.nativeCode].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
    );
  }
  lines.push(`    in: rflags ${hex(c.rflags)}`);
  for (let i = 0; i < 16; i += 4) {
    lines.push(
      `        ${GPR_NAMES.slice(i, i + 4)
        .map((n, j) => `${n}=${hex(c.regs[i + j] ?? 0n)}`)
        .join(' ')}`,
    );
  }
  if (c.pads.length > 0) lines.push(`    pads: ${c.pads.map(hex).join(' ')}`);
  for (const p of c.patches) {
    lines.push(
      `    memory ${hex(p.addr)}: ${[...p.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
    );
  }
  if (c.fpu !== undefined) lines.push(`    x87/SSE in: ${imageDiff(RESET_IMAGE, c.fpu)}`);
  if (c.undefinedFlags !== 0) lines.push(`    undefined flags masked: ${hex(c.undefinedFlags)}`);
  if (c.approx !== undefined) {
    const { reg, lanes, kind } = c.approx;
    lines.push(`    approximate (${kind}): x${reg} lanes 0-${lanes - 1}, within 1.5 × 2^-12`);
  }
  if (c.undefinedFpu !== undefined) {
    const masked = Object.entries(c.undefinedFpu).map(([k, v]) => `${k} ${hex(v)}`);
    lines.push(`    undefined x87/SSE bits masked: ${masked.join(', ')}`);
  }
  for (const d of diffs) lines.push(`    ${d}`);
  return lines.join('\n');
}
