/**
 * The debug-exit port: a test guest ends its run, with a status, by one `out` (QEMU's
 * isa-debug-exit convention, also used by v86's test runner). It has no registers.
 */

import type { PioSize } from '../engine/types.js';
import type { DeviceState, PioDevice } from './types.js';

/** The port test guests write their exit value to, as under QEMU's `isa-debug-exit`. */
export const DEBUG_EXIT_PORT = 0xf4;

const STATE_DEVICE = 'debug-exit';
const STATE_VERSION = 1;

/** Options of {@link DebugExit}. */
export interface DebugExitOptions {
  /** Name for logs and the bus map; `debug-exit` by default. */
  name?: string;
  /**
   * Called with the exit code on each write. The code can exceed 8 bits; a caller turning it
   * into a process exit status takes its low 8 bits, as QEMU's `exit()` does.
   */
  onExit: (code: number) => void;
}

/** A write-only port whose writes end the VM with an exit code. */
export class DebugExit implements PioDevice {
  /** Name for logs and the bus map. */
  readonly name: string;
  readonly #onExit: (code: number) => void;

  /** A port that calls `options.onExit` on every write. */
  constructor(options: DebugExitOptions) {
    this.name = options.name ?? 'debug-exit';
    this.#onExit = options.onExit;
  }

  /** Nothing to read: the floating bus's all ones for the size. */
  pioRead(_port: number, size: PioSize): number {
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  /**
   * Calls `onExit((v << 1) | 1)`, `v` being the low `size` bytes of `value`: the code is
   * odd, so a guest can never fake a clean exit status of 0. Computed in floating point
   * because a 4-byte `v` makes a 33-bit code.
   */
  pioWrite(_port: number, size: PioSize, value: number): void {
    const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
    this.#onExit(v * 2 + 1);
  }

  /** The port has no state; the record only lets a restore check what it is given. */
  saveState(): DeviceState {
    return { device: STATE_DEVICE, version: STATE_VERSION };
  }

  /**
   * Accepts only this device's record.
   * @throws Error when the record is of another device or version
   */
  loadState(state: DeviceState): void {
    if (state.device !== STATE_DEVICE || state.version !== STATE_VERSION) {
      throw new Error(
        `${this.name}: cannot load state of ${state.device} version ${state.version}` +
          ` (expected ${STATE_DEVICE} version ${STATE_VERSION})`,
      );
    }
  }
}
