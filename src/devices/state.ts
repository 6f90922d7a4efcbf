/**
 * Checks shared by the chips' `loadState()`: a saved record is data from outside (a snapshot
 * file, a migration stream), so every field is validated before any of it is applied.
 */

import type { DeviceState } from './types.js';

/** A record read from a saved state: fields not yet checked. */
export type StateRecord = Readonly<Record<string, unknown>>;

/**
 * Throws unless `state` was written by `device` in format `version`.
 * @param owner the restoring instance's name, for the message
 * @throws Error naming what was given and what was expected
 */
export function checkStateHeader(
  owner: string,
  state: DeviceState,
  device: string,
  version: number,
): void {
  if (state.device !== device || state.version !== version) {
    throw new Error(
      `${owner}: cannot load state of ${state.device} version ${state.version}` +
        ` (expected ${device} version ${version})`,
    );
  }
}

/**
 * `value`, checked to be an integer within `[min, max]`.
 * @param what the value's name in the message, e.g. `"latch[1]"`
 * @throws Error when it is not
 */
export function intValue(
  device: string,
  value: unknown,
  what: string,
  min: number,
  max: number,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${device} state: ${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * The integer field `key` of `record`, within `[min, max]`.
 * @throws Error when it is missing, not an integer or out of range
 */
export function intField(
  device: string,
  record: StateRecord,
  key: string,
  min: number,
  max: number,
): number {
  return intValue(device, record[key], `"${key}"`, min, max);
}

/**
 * The boolean field `key` of `record`.
 * @throws Error when it is missing or not a boolean
 */
export function boolField(device: string, record: StateRecord, key: string): boolean {
  const v = record[key];
  if (typeof v !== 'boolean') throw new Error(`${device} state: "${key}" must be a boolean`);
  return v;
}

/**
 * `value`, checked to be a record (a plain object, not an array).
 * @throws Error when it is not
 */
export function recordValue(device: string, value: unknown, what: string): StateRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${device} state: ${what} must be a record`);
  }
  return value as StateRecord;
}

/**
 * The nested record `key` of `record`.
 * @throws Error when it is missing or not a record
 */
export function recordField(device: string, record: StateRecord, key: string): StateRecord {
  return recordValue(device, record[key], `"${key}"`);
}

/**
 * The array field `key` of `record`, of `min` to `max` elements not yet checked.
 * @throws Error when it is missing, not an array or of another length
 */
export function arrayField(
  device: string,
  record: StateRecord,
  key: string,
  min: number,
  max: number,
): readonly unknown[] {
  const v: unknown = record[key];
  if (!Array.isArray(v) || v.length < min || v.length > max) {
    throw new Error(`${device} state: "${key}" must be an array of ${min} to ${max} elements`);
  }
  return v as readonly unknown[];
}

/**
 * The byte-array field `key` of `record` (a `Uint8Array`, or an array of bytes after a JSON
 * round trip), as a fresh copy of exactly `length` bytes.
 * @throws Error when it is missing, of another length or holds a non-byte
 */
export function bytesField(
  device: string,
  record: StateRecord,
  key: string,
  length: number,
): Uint8Array {
  const v: unknown = record[key];
  const bytes: unknown = v instanceof Uint8Array ? Array.from(v) : v;
  if (!Array.isArray(bytes) || bytes.length !== length) {
    throw new Error(`${device} state: "${key}" must hold ${length} bytes`);
  }
  const out = new Uint8Array(length);
  (bytes as readonly unknown[]).forEach((b, i) => {
    out[i] = intValue(device, b, `"${key}[${i}]"`, 0, 0xff);
  });
  return out;
}
