/**
 * What a VM process's main thread and its vCPU worker share: a small block of shared memory
 * for requests the vCPU must see while it runs or sleeps, and the messages the worker posts
 * back.
 *
 * The vCPU thread is busy in the guest, never in its event loop, so nothing posted to it would
 * be read; it looks at the shared block between run slices instead. The main thread writes a
 * request, then bumps and notifies the machine's wake counter, so a halted vCPU looks at once;
 * a paused vCPU sleeps on the pause word itself. Console input travels in a single-producer,
 * single-consumer byte ring in the same block. The worker's own messages (output, state
 * changes, log lines) go the other way by `postMessage`, which the main thread's event loop
 * reads.
 */

import type { HeldFile } from '../block/image_file.js';
import type { DiskSpec } from './disks.js';
import type { MachineStop } from './machine.js';

/** Element 0: the machine's wake counter ({@link MachineConfig.wake}). */
const WAKE = 0;
/** Request bits, see STOP and SHUTDOWN. */
const REQUESTS = 1;
/** 1 while the main thread wants the vCPU paused. */
const PAUSE = 2;
/** The log verbosity the worker should use. */
const VERBOSITY = 3;
/** Console input bytes ever written to the ring (wraps at 2^32). */
const INPUT_HEAD = 4;
/** Console input bytes ever read from the ring. */
const INPUT_TAIL = 5;
const WORDS = 8;
const INPUT_OFFSET = WORDS * 4;

/** Stop the guest: the machine ends with `stopped`. Stays set. */
const STOP = 1;
/** Ask the guest to shut down: press Ctrl-Alt-Delete once. Cleared when taken. */
const SHUTDOWN = 2;

/** Bytes of console input the ring holds (a power of two). */
export const INPUT_RING_BYTES = 4096;

/** How a guest stopped, as the worker reports it. */
export interface VcpuStop {
  /** The machine's stop kind. */
  kind: MachineStop['kind'];
  /** What happened, for the log (the vCPU's registers for a fault). */
  detail: string;
  /** The debug-exit code, for `debug-exit`; else null. */
  code: number | null;
}

/** What the vCPU worker is started with (its `workerData`). */
export interface VcpuWorkerData {
  /** The shared block ({@link VcpuControl.buffer}). */
  control: SharedArrayBuffer;
  /** The log's process name, `vm/NAME`. */
  logName: string;
  /** The log verbosity at start. */
  verbosity: number;
  /** What the machine is built from. */
  machine: {
    memorySize: number;
    kernel: string;
    initrd: string | null;
    cmdline: string | null;
    /** Disk images, opened (and locked) by the machine. */
    disks: DiskSpec[];
    /** The files, when the parent opened them: the machine uses only these descriptors. */
    files: HeldFile[] | null;
  };
}

/** Messages from the vCPU worker to the main thread. */
export type VcpuMessage =
  /** A finished log line, prefix included: the main thread writes it to stderr. */
  | { type: 'log'; line: string }
  /** Console output of one or more run slices. */
  | { type: 'output'; data: Uint8Array }
  /**
   * The machine is built and the guest starts running. `ram` views guest RAM in shared memory
   * (no copy), for the main thread to measure what of it is resident; null when RAM is not
   * shared memory, which would be copied.
   */
  | { type: 'running'; ram: Uint8Array | null }
  /** The machine could not be built: `result` is an errno value. */
  | { type: 'failed'; result: number; detail: string }
  /** The vCPU has parked for a pause (its virtual clock stopped). */
  | { type: 'paused' }
  /** The vCPU runs again after a pause. */
  | { type: 'resumed' }
  /** The guest stopped; the worker ends. */
  | { type: 'stopped'; stop: VcpuStop };

/** The shared block, seen from either thread. */
export class VcpuControl {
  /** The memory to hand to the other thread. */
  readonly buffer: SharedArrayBuffer;
  /** The machine's wake counter (element 0 of this view). */
  readonly wake: Int32Array;
  readonly #words: Int32Array;
  readonly #ring: Uint8Array;

  /** Views `buffer`, or a new zeroed block. */
  constructor(buffer = new SharedArrayBuffer(INPUT_OFFSET + INPUT_RING_BYTES)) {
    if (buffer.byteLength !== INPUT_OFFSET + INPUT_RING_BYTES) {
      throw new RangeError(`vCPU control block of ${buffer.byteLength} bytes has the wrong size`);
    }
    this.buffer = buffer;
    this.#words = new Int32Array(buffer, 0, WORDS);
    this.wake = new Int32Array(buffer, WAKE * 4, 1);
    this.#ring = new Uint8Array(buffer, INPUT_OFFSET, INPUT_RING_BYTES);
  }

  // The main thread's side.

  /** Stops the guest for good (also out of a pause). */
  requestStop(): void {
    Atomics.or(this.#words, REQUESTS, STOP);
    Atomics.notify(this.#words, PAUSE);
    this.#wakeVcpu();
  }

  /** Asks for one Ctrl-Alt-Delete (taken at the next slice, or after a pause). */
  requestShutdown(): void {
    Atomics.or(this.#words, REQUESTS, SHUTDOWN);
    this.#wakeVcpu();
  }

  /** Asks the vCPU to park (true) or go on (false). */
  setPaused(paused: boolean): void {
    Atomics.store(this.#words, PAUSE, paused ? 1 : 0);
    Atomics.notify(this.#words, PAUSE);
    this.#wakeVcpu();
  }

  /** Sets the verbosity the worker logs at from its next slice. */
  setVerbosity(level: number): void {
    Atomics.store(this.#words, VERBOSITY, level);
  }

  /** Copies as much of `bytes` into the input ring as fits; returns how many bytes that was. */
  writeInput(bytes: Uint8Array): number {
    const head = Atomics.load(this.#words, INPUT_HEAD);
    const used = (head - Atomics.load(this.#words, INPUT_TAIL)) | 0;
    const count = Math.min(bytes.length, INPUT_RING_BYTES - used);
    for (let i = 0; i < count; i++) {
      this.#ring[(head + i) & (INPUT_RING_BYTES - 1)] = bytes[i] ?? 0;
    }
    // The bytes are in place before the reader can see the new head (Atomics are seq-cst).
    Atomics.store(this.#words, INPUT_HEAD, (head + count) | 0);
    if (count > 0) this.#wakeVcpu();
    return count;
  }

  #wakeVcpu(): void {
    Atomics.add(this.wake, 0, 1);
    Atomics.notify(this.wake, 0);
  }

  // The vCPU thread's side.

  /** Whether the guest must stop. */
  stopRequested(): boolean {
    return (Atomics.load(this.#words, REQUESTS) & STOP) !== 0;
  }

  /** Whether the vCPU should park now. */
  pauseRequested(): boolean {
    return Atomics.load(this.#words, PAUSE) !== 0;
  }

  /** The verbosity the main thread asked for. */
  verbosity(): number {
    return Atomics.load(this.#words, VERBOSITY);
  }

  /** Takes a pending shutdown request: true once per {@link requestShutdown}. */
  takeShutdown(): boolean {
    return (Atomics.and(this.#words, REQUESTS, ~SHUTDOWN) & SHUTDOWN) !== 0;
  }

  /** Sleeps until the pause ends or the guest must stop. */
  waitWhilePaused(): void {
    while (this.pauseRequested() && !this.stopRequested()) Atomics.wait(this.#words, PAUSE, 1);
  }

  /** Takes the console input waiting in the ring, or undefined when there is none. */
  readInput(): Uint8Array | undefined {
    const tail = Atomics.load(this.#words, INPUT_TAIL);
    const count = (Atomics.load(this.#words, INPUT_HEAD) - tail) | 0;
    if (count <= 0) return undefined;
    const bytes = new Uint8Array(count);
    for (let i = 0; i < count; i++) bytes[i] = this.#ring[(tail + i) & (INPUT_RING_BYTES - 1)] ?? 0;
    Atomics.store(this.#words, INPUT_TAIL, (tail + count) | 0);
    return bytes;
  }
}
