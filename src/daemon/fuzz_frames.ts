/**
 * Seeded generators of random, mutated and malformed frames for fuzzing whatever reads the
 * control protocol: the decoder and validator in-process (fuzz.test.ts) and a running vmd over
 * its socket (tests/daemon). Frames start from valid sample messages and are mutated at the
 * byte level, in their header or in their JSON, or are random bytes outright.
 */

import { encodeMessage } from './codec.js';
import { DEFAULT_MAX_PAYLOAD, encodeFrame, HEADER_SIZE } from './frame.js';
import { SAMPLE_MESSAGES } from './message_samples.js';
import { MESSAGE_CODES, MESSAGE_TYPES, type Message } from './messages.js';

/** mulberry32: a small, fast, seedable generator of numbers in [0, 1). */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random choices from one seed. */
export class Fuzzer {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = generator(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

const utf8 = new TextEncoder();
const CODES = MESSAGE_TYPES.map((t) => MESSAGE_CODES[t]);
const NASTY_VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  -1,
  1,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 32 - 1,
  2 ** 53,
  -(2 ** 53),
  1e308,
  '',
  'a',
  '/a',
  '.a',
  'raw',
  'qcow2',
  'running',
  '\u0000',
  '\ud800',
  '/'.repeat(5000),
  [],
  [1],
  [{}],
  {},
  { id: 1 },
  { name: 'x' },
  { local: true, switch: null },
];
const NASTY_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'type',
  'x',
  'id',
  'name',
  '',
  '\u0000',
  '\ud800',
  '\u001b[31m',
  'k'.repeat(10_000),
];

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, so that "__proto__" becomes a data property and not the prototype.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    configurable: true,
    writable: true,
  });
}

/** Replaces, deletes or adds one value somewhere in a JSON tree. */
function mutateJson(f: Fuzzer, value: unknown, depth = 0): unknown {
  const isContainer = typeof value === 'object' && value !== null;
  if (!isContainer || depth > 4 || f.int(4) === 0) {
    return f.int(6) === 0 ? deepNest(f.int(2000)) : f.pick(NASTY_VALUES);
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = [...(value as unknown[])];
    if (copy.length === 0 || f.int(5) === 0) copy.push(f.pick(NASTY_VALUES));
    else copy[f.int(copy.length)] = mutateJson(f, copy[f.int(copy.length)], depth + 1);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const roll = f.int(6);
  if (roll === 0 || keys.length === 0) setOwn(copy, f.pick(NASTY_KEYS), f.pick(NASTY_VALUES));
  else if (roll === 1) Reflect.deleteProperty(copy, f.pick(keys));
  else {
    const key = f.pick(keys);
    setOwn(copy, key, mutateJson(f, copy[key], depth + 1));
  }
  return copy;
}

function deepNest(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * A frame, valid or mutated at the byte level or in its JSON, made from one of `samples`
 * (every sample message by default).
 */
export function fuzzFrame(f: Fuzzer, samples: readonly Message[] = SAMPLE_MESSAGES): Uint8Array {
  const message = f.pick(samples);
  const id = f.int(2) === 0 ? f.int(4) : f.int(2 ** 32);
  const bytes = encodeMessage(message, id);
  switch (f.int(10)) {
    case 0:
      return bytes;
    case 1: {
      const { type, ...fields } = message;
      const json = JSON.stringify(mutateJson(f, fields));
      const code = f.int(4) === 0 ? f.pick(CODES) : MESSAGE_CODES[type];
      return encodeFrame({ type: code, id, payload: utf8.encode(json) });
    }
    case 2: {
      for (let n = 1 + f.int(4); n > 0; n--) {
        const at = f.int(bytes.length);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << f.int(8));
      }
      return bytes;
    }
    case 3:
      return bytes.subarray(0, f.int(bytes.length));
    case 4: {
      const view = new DataView(bytes.buffer);
      view.setUint32(
        8,
        f.pick([0, 1, bytes.length, DEFAULT_MAX_PAYLOAD + 1, f.int(2 ** 32), 2 ** 32 - 1]),
      );
      return bytes;
    }
    case 5:
      new DataView(bytes.buffer).setUint16(2, f.int(2) === 0 ? f.pick(CODES) : f.int(0x10000));
      return bytes;
    case 6:
      return f.bytes(f.int(64));
    case 7: {
      const payload = f.bytes(f.int(48));
      return encodeFrame({ type: f.pick(CODES), id, payload });
    }
    case 8: {
      const at = HEADER_SIZE + f.int(Math.max(1, bytes.length - HEADER_SIZE));
      const text = utf8.encode(f.pick(['"', '{', '}', ',', ':', '\\', 'null', '1e999', '\u00e9']));
      const out = new Uint8Array(bytes.length + text.length);
      out.set(bytes.subarray(0, at));
      out.set(text, at);
      out.set(bytes.subarray(at), at + text.length);
      new DataView(out.buffer).setUint32(8, out.length - HEADER_SIZE);
      return out;
    }
    default: {
      const { type, ...fields } = message;
      const raw = JSON.stringify(fields).replace(
        /^\{/,
        `{"${f.pick(NASTY_KEYS)}":${JSON.stringify(f.pick(NASTY_VALUES))},`,
      );
      return encodeFrame({ type: MESSAGE_CODES[type], id, payload: utf8.encode(raw) });
    }
  }
}
