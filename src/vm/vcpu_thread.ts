/**
 * The main thread's handle on a VM process's vCPU worker (vcpu_worker.ts): starts it, relays
 * console bytes both ways, and turns pause, resume, shutdown and stop requests into the shared
 * block's words (vcpu_channel.ts) and the worker's answers into promises.
 *
 * The worker's failures never escape: an uncaught error in it, or its end without a word,
 * becomes a stop of kind `fault`, so the VM process can always report how its guest ended.
 */

import { constants } from 'node:os';
import { Worker } from 'node:worker_threads';
import { log } from '../common/log.js';
import {
  VcpuControl,
  type VcpuMessage,
  type VcpuStop,
  type VcpuWorkerData,
} from './vcpu_channel.js';

/** The most console input held while the input ring is full (a paused guest reads none). */
const MAX_PENDING_INPUT = 64 * 1024;
/** How often held input is offered to the ring again. */
const INPUT_RETRY_MS = 10;

/** What {@link VcpuThread.started} settles with. */
export type VcpuStart = { ok: true } | { ok: false; result: number; detail: string };

/** Options of {@link VcpuThread.start}. */
export interface VcpuThreadOptions {
  /** What the worker builds its machine from, and its log name and verbosity. */
  data: Omit<VcpuWorkerData, 'control'>;
  /** Where guest console output goes. */
  onOutput: (bytes: Uint8Array) => void;
}

/** A running vCPU worker. */
export class VcpuThread {
  /** Settles once the machine is built and running, or could not be built. */
  readonly started: Promise<VcpuStart>;
  /**
   * Settles once the guest has stopped, however it ended; also (as a fault) when the worker
   * died before running, never when it reported that the machine could not be built.
   */
  readonly stopped: Promise<VcpuStop>;
  readonly #worker: Worker;
  readonly #control = new VcpuControl();
  readonly #onOutput: (bytes: Uint8Array) => void;
  #resolveStarted!: (start: VcpuStart) => void;
  #resolveStopped!: (stop: VcpuStop) => void;
  #state: 'starting' | 'running' | 'stopped' = 'starting';
  #paused = false;
  /** Pause and resume requests, one at a time, in order. */
  #requests: Promise<unknown> = Promise.resolve();
  /** The request under way: settled with whether it took effect. */
  #waiter: { paused: boolean; done: (ok: boolean) => void } | null = null;
  #guestRam: Uint8Array | null = null;
  #pendingInput: Uint8Array[] = [];
  #pendingBytes = 0;
  #inputTimer: NodeJS.Timeout | null = null;

  private constructor(options: VcpuThreadOptions) {
    this.#onOutput = options.onOutput;
    this.started = new Promise((resolve) => (this.#resolveStarted = resolve));
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    this.#control.setVerbosity(options.data.verbosity);
    const workerData: VcpuWorkerData = { ...options.data, control: this.#control.buffer };
    this.#worker = new Worker(new URL('./vcpu_worker.js', import.meta.url), { workerData });
    this.#worker.on('message', (message: VcpuMessage) => {
      this.#receive(message);
    });
    this.#worker.on('error', (error: Error) => {
      this.#end({ kind: 'fault', detail: `vCPU thread failed: ${error.message}`, code: null });
    });
    this.#worker.on('exit', (code: number) => {
      this.#end({ kind: 'fault', detail: `vCPU thread ended (exit code ${code})`, code: null });
    });
  }

  /** Starts the worker; it builds the machine and runs the guest at once. */
  static start(options: VcpuThreadOptions): VcpuThread {
    return new VcpuThread(options);
  }

  /**
   * Guest RAM, shared with the worker, once the guest runs: to be measured, never written.
   * Null before, and when the machine's RAM is not shared memory.
   */
  get guestRam(): Uint8Array | null {
    return this.#guestRam;
  }

  /** Whether the vCPU is parked by a pause. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Parks the vCPU (true) or lets it go on (false). Settles true once the vCPU has done so, at
   * once if it already had, and false if the guest stopped first. Requests take effect one
   * after the other, in the order made.
   */
  setPaused(paused: boolean): Promise<boolean> {
    const request = this.#requests.then(() => this.#applyPaused(paused));
    this.#requests = request;
    return request;
  }

  #applyPaused(paused: boolean): Promise<boolean> {
    if (this.#state === 'stopped') return Promise.resolve(false);
    if (this.#paused === paused) return Promise.resolve(true);
    this.#control.setPaused(paused);
    return new Promise((done) => (this.#waiter = { paused, done }));
  }

  /** Asks the guest to shut down (one Ctrl-Alt-Delete). */
  requestShutdown(): void {
    this.#control.requestShutdown();
  }

  /** Stops the guest; {@link stopped} settles with kind `stopped`. */
  stop(): void {
    this.#control.requestStop();
  }

  /** Sets the worker's log verbosity. */
  setVerbosity(level: number): void {
    this.#control.setVerbosity(level);
  }

  /** Queues console input for the guest. Input beyond a bound while the guest takes none is dropped. */
  sendInput(bytes: Uint8Array): void {
    if (this.#state === 'stopped') return;
    if (this.#pendingBytes + bytes.length > MAX_PENDING_INPUT) {
      log.debug('console input dropped: the guest is not reading');
      return;
    }
    this.#pendingInput.push(Uint8Array.from(bytes));
    this.#pendingBytes += bytes.length;
    this.#offerInput();
  }

  #offerInput(): void {
    while (this.#pendingInput.length > 0) {
      const head = this.#pendingInput[0] ?? new Uint8Array();
      const taken = this.#control.writeInput(head);
      this.#pendingBytes -= taken;
      if (taken < head.length) {
        this.#pendingInput[0] = head.subarray(taken);
        this.#inputTimer ??= setTimeout(() => {
          this.#inputTimer = null;
          this.#offerInput();
        }, INPUT_RETRY_MS);
        return;
      }
      this.#pendingInput.shift();
    }
  }

  #receive(message: VcpuMessage): void {
    switch (message.type) {
      case 'log':
        process.stderr.write(`${message.line}\n`);
        return;
      case 'output':
        this.#onOutput(message.data);
        return;
      case 'running':
        this.#guestRam = message.ram;
        this.#state = 'running';
        this.#resolveStarted({ ok: true });
        return;
      case 'failed':
        this.#state = 'stopped';
        this.#resolveStarted({ ok: false, result: message.result, detail: message.detail });
        return;
      case 'paused':
      case 'resumed': {
        this.#paused = message.type === 'paused';
        const waiter = this.#waiter;
        if (waiter?.paused === this.#paused) {
          this.#waiter = null;
          waiter.done(true);
        }
        return;
      }
      case 'stopped':
        this.#end(message.stop);
    }
  }

  #end(stop: VcpuStop): void {
    if (this.#state === 'stopped') return;
    const wasStarting = this.#state === 'starting';
    this.#state = 'stopped';
    if (this.#inputTimer !== null) clearTimeout(this.#inputTimer);
    this.#waiter?.done(false);
    this.#waiter = null;
    // Before `running`, the worker died building the machine: a start that failed.
    if (wasStarting) {
      this.#resolveStarted({ ok: false, result: constants.errno.EIO, detail: stop.detail });
    }
    this.#resolveStopped(stop);
  }
}
