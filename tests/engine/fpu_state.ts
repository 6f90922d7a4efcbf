/**
 * The x87/SSE state in the differential test. A case carries it as an image in the 64-bit
 * FXSAVE layout (SDM Vol. 1, Table 10-2; the first 416 bytes), the form the native harness
 * loads with FXRSTOR64; the engine gets and gives it as an {@link Fpu}. Both sides report it as
 * text (see harness/difftest.c): the `KEY=HEX` fields that differ from a reference image.
 */

import type { Fpu } from '../../src/engine/types.js';

/** Bytes of an image: everything FXSAVE64 writes (x87 state, MXCSR, XMM0–15). */
export const IMAGE_SIZE = 416;

/** A field of the image: a little-endian number, or bytes (ST and XMM registers). */
interface Field {
  readonly key: string;
  readonly at: number;
  readonly size: number;
  readonly bytes: boolean;
}

/** The fields in the harness's order. */
const FIELDS: readonly Field[] = [
  { key: 'c', at: 0, size: 2, bytes: false },
  { key: 's', at: 2, size: 2, bytes: false },
  { key: 't', at: 4, size: 1, bytes: false },
  { key: 'o', at: 6, size: 2, bytes: false },
  { key: 'i', at: 8, size: 8, bytes: false },
  { key: 'p', at: 16, size: 8, bytes: false },
  { key: 'm', at: 24, size: 4, bytes: false },
  ...Array.from({ length: 8 }, (_, i) => ({
    key: `r${i}`,
    at: 32 + 16 * i,
    size: 10,
    bytes: true,
  })),
  ...Array.from({ length: 16 }, (_, i) => ({
    key: `x${i}`,
    at: 160 + 16 * i,
    size: 16,
    bytes: true,
  })),
];

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The little-endian value of a field. */
function valueOf(img: Uint8Array, f: Field): bigint {
  let v = 0n;
  for (let i = f.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(img[f.at + i] ?? 0);
  return v;
}

function text(f: Field, v: bigint): string {
  if (!f.bytes) return v.toString(16);
  let s = '';
  for (let i = 0; i < f.size; i++) s += HEX[Number((v >> BigInt(8 * i)) & 0xffn)] ?? '';
  return s;
}

/** The reset state (SDM Vol. 3A, Table 9-1: FCW 037F, MXCSR 1F80), a case line's `-`. */
export function resetImage(): Uint8Array {
  const img = new Uint8Array(IMAGE_SIZE);
  img[0] = 0x7f;
  img[1] = 0x03;
  img[24] = 0x80;
  img[25] = 0x1f;
  return img;
}

/** The fields of `now` that differ from `was`, as `KEY=HEX,...`, or `-`. */
export function imageDiff(was: Uint8Array, now: Uint8Array): string {
  let out = '';
  for (const f of FIELDS) {
    let same = true;
    for (let i = f.at; i < f.at + f.size; i++) {
      if (was[i] !== now[i]) {
        same = false;
        break;
      }
    }
    if (same) continue;
    let hex = '';
    if (f.bytes) for (let i = f.at; i < f.at + f.size; i++) hex += HEX[now[i] ?? 0] ?? '';
    else hex = valueOf(now, f).toString(16);
    out += `${out === '' ? '' : ','}${f.key}=${hex}`;
  }
  return out === '' ? '-' : out;
}

/** Parses `KEY=HEX,...` (or `-`) into field values. */
function parseFields(line: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (line === '-') return out;
  for (const part of line.split(',')) {
    const [key = '', hex = ''] = part.split('=');
    const f = FIELDS.find((x) => x.key === key);
    if (f === undefined) throw new Error(`unknown x87/SSE field in ${line}`);
    if (!f.bytes) {
      out.set(key, BigInt(`0x${hex}`));
      continue;
    }
    let v = 0n;
    for (let i = f.size - 1; i >= 0; i--) {
      v = (v << 8n) | BigInt(Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
    }
    out.set(key, v);
  }
  return out;
}

/** The value of field `key` after a run: from `diff` (a `KEY=HEX,...` line), else `input`'s. */
export function fieldValue(input: Uint8Array, diff: string, key: string): bigint {
  const f = FIELDS.find((x) => x.key === key);
  if (f === undefined) throw new Error(`unknown x87/SSE field ${key}`);
  return parseFields(diff).get(key) ?? valueOf(input, f);
}

/**
 * The differences between the host's and the engine's state changes, both relative to the
 * case's `input` image, ignoring the bits `undefinedBits` names per field.
 */
export function compareImages(
  input: Uint8Array,
  host: string,
  engine: string,
  undefinedBits: Readonly<Record<string, bigint>> = {},
): string[] {
  if (host === engine) return [];
  const n = parseFields(host);
  const e = parseFields(engine);
  const out: string[] = [];
  for (const f of FIELDS) {
    const was = valueOf(input, f);
    const a = n.get(f.key) ?? was;
    const b = e.get(f.key) ?? was;
    if (((a ^ b) & ~(undefinedBits[f.key] ?? 0n)) === 0n) continue;
    out.push(`${f.key}: host ${text(f, a)} engine ${text(f, b)}`);
  }
  return out;
}

/** The engine's view of an image. */
export function imageToFpu(img: Uint8Array): Fpu {
  const view = new DataView(img.buffer, img.byteOffset, IMAGE_SIZE);
  return {
    fpr: Array.from({ length: 8 }, (_, i) => img.subarray(32 + 16 * i, 48 + 16 * i)),
    fcw: view.getUint16(0, true),
    fsw: view.getUint16(2, true),
    ftwx: view.getUint8(4),
    lastOpcode: view.getUint16(6, true),
    lastIp: view.getBigUint64(8, true),
    lastDp: view.getBigUint64(16, true),
    xmm: Array.from({ length: 16 }, (_, i) => img.subarray(160 + 16 * i, 176 + 16 * i)),
    mxcsr: view.getUint32(24, true),
  };
}

/** An image of the engine's state (the reserved bytes of the ST slots as zeros). */
export function fpuToImage(fpu: Fpu): Uint8Array {
  const img = new Uint8Array(IMAGE_SIZE);
  const view = new DataView(img.buffer);
  view.setUint16(0, fpu.fcw, true);
  view.setUint16(2, fpu.fsw, true);
  view.setUint8(4, fpu.ftwx);
  view.setUint16(6, fpu.lastOpcode, true);
  view.setBigUint64(8, fpu.lastIp, true);
  view.setBigUint64(16, fpu.lastDp, true);
  view.setUint32(24, fpu.mxcsr, true);
  for (let i = 0; i < 8; i++) {
    const r = fpu.fpr[i];
    for (let k = 0; k < 10; k++) img[32 + 16 * i + k] = r?.[k] ?? 0;
  }
  for (let i = 0; i < 16; i++) {
    const x = fpu.xmm[i];
    if (x !== undefined) img.set(x.length === 16 ? x : x.subarray(0, 16), 160 + 16 * i);
  }
  return img;
}
