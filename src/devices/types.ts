/**
 * The device seam: how chips attach to the I/O bus, raise interrupts and save their state.
 * One class instance per chip; no chip state lives at module scope.
 */

import type { MmioSize, PioSize } from '../engine/types.js';

/** State a device can save and restore, for pause, snapshots and migration. */
export interface Snapshotable {
  /** A self-contained copy of the device's guest-visible state. */
  saveState(): DeviceState;
  /** Restores what `saveState()` returned; throws on a state of another device or version. */
  loadState(state: DeviceState): void;
}

/**
 * A device's saved state: plain data (numbers, strings, booleans, arrays, nested records,
 * byte arrays) that survives structured clone and JSON with a byte-array codec.
 */
export interface DeviceState {
  /** The device kind that wrote it, checked on restore. */
  readonly device: string;
  /** Format version of the state record, checked on restore. */
  readonly version: number;
  readonly [field: string]: unknown;
}

/** A device answering port I/O. */
export interface PioDevice extends Snapshotable {
  /** Name for logs and the bus map, e.g. `com1`. */
  readonly name: string;
  /** Reads `size` bytes at `port` (the absolute port number). */
  pioRead(port: number, size: PioSize): number;
  /** Writes the low `size` bytes of `value` at `port`. */
  pioWrite(port: number, size: PioSize, value: number): void;
}

/** A device answering memory-mapped I/O. */
export interface MmioDevice extends Snapshotable {
  /** Name for logs and the bus map. */
  readonly name: string;
  /** Reads `size` bytes at `offset` from the start of the device's range. */
  mmioRead(offset: number, size: MmioSize): number;
  /** Writes the low `size` bytes of `value` at `offset` from the start of the range. */
  mmioWrite(offset: number, size: MmioSize, value: number): void;
}

/**
 * One interrupt request line into an interrupt controller. A level-triggered source holds it
 * raised while its condition lasts; an edge source pulses it.
 */
export interface IrqLine {
  /** Asserts the line. */
  raise(): void;
  /** Deasserts the line. */
  lower(): void;
  /** Asserts then deasserts the line: one edge. */
  pulse(): void;
}

/** An interrupt line wired to nothing, for chips whose interrupt is not connected. */
export const NO_IRQ: IrqLine = {
  raise(): void {
    /* not connected */
  },
  lower(): void {
    /* not connected */
  },
  pulse(): void {
    /* not connected */
  },
};

/** Where a character device's output goes and its input comes from (console, file, pty). */
export interface CharBackend {
  /** Takes bytes the guest transmitted. Must not block the vCPU. */
  write(data: Uint8Array): void;
}
