/**
 * Small checked readers for JSON values received from a peer. A reader takes an `unknown`
 * and the path it was found at, and returns the typed value or throws a `bad-field`
 * {@link ProtocolError} that names the path (`disks[1].path`). Objects are read field by
 * field into fresh objects: unknown fields are refused, and so are the keys that reach an
 * object's prototype (`__proto__`, `constructor`, `prototype`), so nothing a peer sends can
 * alter a prototype or smuggle a field through a later spread or merge.
 */

import { ProtocolError } from './frame.js';

/** Reads and checks the value found at `path`; throws a `bad-field` {@link ProtocolError}. */
export type Schema<T> = (value: unknown, path: string) => T;

/** Keys refused anywhere in a payload. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The error for the field at `path`; `problem` completes the sentence (`must be …`). */
export function fieldError(path: string, problem: string): ProtocolError {
  // The path holds the peer's keys: quoted short, so that the problem stays in the message.
  const shown = path.length > 80 ? `${path.slice(0, 77)}...` : path;
  return new ProtocolError('bad-field', `field ${JSON.stringify(shown)} ${problem}`, path);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** An integer from `min` to `max` inclusive (both safe integers). */
export function integer(min: number, max: number): Schema<number> {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const got = typeof value === 'number' ? String(value) : describe(value);
      throw fieldError(path, `must be an integer from ${min} to ${max}, not ${got}`);
    }
    // -0 passes the range check but is not a count, an id or a size.
    return value === 0 ? 0 : value;
  };
}

/** `true` or `false`. */
export const boolean: Schema<boolean> = (value, path) => {
  if (typeof value !== 'boolean')
    throw fieldError(path, `must be a boolean, not ${describe(value)}`);
  return value;
};

/** Options of {@link text}. */
export interface TextOptions {
  /** The fewest UTF-16 code units; 0 by default. */
  minLength?: number;
  /** The most UTF-16 code units. */
  maxLength: number;
  /** A further check: the problem (`must be …`), or null when the string is good. */
  check?: (text: string) => string | null;
}

/**
 * A string within the length bounds, with no NUL (a C string, a path or a name cannot hold
 * one) and no unpaired surrogate (it could not be written as UTF-8 unchanged).
 */
export function text(options: TextOptions): Schema<string> {
  const { minLength = 0, maxLength, check } = options;
  return (value, path) => {
    if (typeof value !== 'string')
      throw fieldError(path, `must be a string, not ${describe(value)}`);
    if (value.length < minLength || value.length > maxLength) {
      throw fieldError(path, `must be ${minLength} to ${maxLength} characters long`);
    }
    if (value.includes('\0')) throw fieldError(path, 'must not contain NUL');
    if (/\p{Cs}/u.test(value)) throw fieldError(path, 'must be valid Unicode');
    const problem = check?.(value) ?? null;
    if (problem !== null) throw fieldError(path, problem);
    return value;
  };
}

/** One of the strings in `values`. */
export function oneOf<const T extends readonly string[]>(values: T): Schema<T[number]> {
  return (value, path) => {
    const found = values.find((v) => v === value);
    if (found === undefined) throw fieldError(path, `must be one of ${values.join(', ')}`);
    return found;
  };
}

/** `null`, or a value `schema` accepts. */
export function nullable<T>(schema: Schema<T>): Schema<T | null> {
  return (value, path) => (value === null ? null : schema(value, path));
}

/** An array of at most `maxLength` values that `item` accepts. */
export function array<T>(item: Schema<T>, maxLength: number): Schema<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) throw fieldError(path, `must be an array, not ${describe(value)}`);
    if (value.length > maxLength) throw fieldError(path, `must have at most ${maxLength} items`);
    return value.map((v: unknown, i) => item(v, `${path}[${i}]`));
  };
}

/** A path's child. */
function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** True for `{}`-like objects: not null, not an array, from an object literal or JSON. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The fields of `shape`, every one required; a schema for each field of `T`. */
export type Shape<T> = { readonly [K in keyof T]-?: Schema<T[K]> };

/**
 * An object with exactly the fields of `shape`: each must be present (`null` where the
 * type allows it), no other field may be, and forbidden keys are refused by name.
 */
export function object<T extends object>(shape: Shape<T>): Schema<T> {
  const keys = Object.keys(shape) as (keyof T & string)[];
  return (value, path) => {
    if (!isPlainObject(value)) {
      throw fieldError(
        path === '' ? '(payload)' : path,
        `must be an object, not ${describe(value)}`,
      );
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) throw fieldError(join(path, key), 'is a forbidden key');
      if (!Object.hasOwn(shape, key)) throw fieldError(join(path, key), 'is not a known field');
    }
    const out: Partial<T> = {};
    for (const key of keys) {
      if (!Object.hasOwn(value, key)) throw fieldError(join(path, key), 'is missing');
      out[key] = shape[key](value[key], join(path, key));
    }
    return out as T;
  };
}

/**
 * One of two object shapes, told apart by whether the object has `key` (an error names the
 * fields of the shape without it when the key is absent).
 */
export function either<A, B>(key: string, withKey: Schema<A>, without: Schema<B>): Schema<A | B> {
  return (value, path) =>
    (isPlainObject(value) && Object.hasOwn(value, key) ? withKey : without)(value, path);
}
