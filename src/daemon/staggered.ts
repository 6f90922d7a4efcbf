/**
 * vm.conf's `staggered start parallel N delay S` (vmd.c vmd_start_vms): the VMs that are
 * enabled are marked waiting and started N at a time, S seconds apart, so that a host does
 * not boot all its guests at once. By default N is the number of CPUs and S is 30.
 */

import { availableParallelism } from 'node:os';
import type { StaggeredStart } from '../config/types.js';
import { VM_STATE } from './codes.js';
import { isRunning, type VmEntry } from './registry.js';

/** vmd's default delay between two batches, in seconds. */
export const DEFAULT_STAGGER_DELAY = 30;

/** The batch size and delay in force: vm.conf's, else one VM per CPU every 30 s. */
export function staggerSettings(configured: StaggeredStart | null): StaggeredStart {
  return configured ?? { parallel: availableParallelism(), delay: DEFAULT_STAGGER_DELAY };
}

/** The queue of VMs waiting for the staggered start. */
export class StaggeredStarter {
  private readonly queue: VmEntry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private settings: StaggeredStart;

  /**
   * @param start - Starts one VM (its errors are its own to log).
   * @param settings - The batch size and delay.
   */
  constructor(
    private readonly start: (entry: VmEntry) => void,
    settings: StaggeredStart,
  ) {
    this.settings = settings;
  }

  /** Changes the batch size and delay (a reload); the batch in progress keeps its timer. */
  configure(settings: StaggeredStart): void {
    this.settings = settings;
  }

  /** Marks `entries` waiting and queues them; the first batch starts at once if none is due. */
  enqueue(entries: readonly VmEntry[]): void {
    for (const entry of entries) {
      if (isRunning(entry) || this.queue.includes(entry)) continue;
      entry.state |= VM_STATE.WAITING;
      this.queue.push(entry);
    }
    if (this.timer === null) this.startBatch();
  }

  /** Takes `entry` off the queue (it was started by hand or removed). */
  cancel(entry: VmEntry): void {
    entry.state &= ~VM_STATE.WAITING;
    const at = this.queue.indexOf(entry);
    if (at >= 0) this.queue.splice(at, 1);
  }

  /** Empties the queue and stops the timer. */
  clear(): void {
    for (const entry of this.queue) entry.state &= ~VM_STATE.WAITING;
    this.queue.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** VMs still waiting. */
  get waiting(): number {
    return this.queue.length;
  }

  private startBatch(): void {
    this.timer = null;
    let started = 0;
    while (started < this.settings.parallel) {
      const entry = this.queue.shift();
      if (entry === undefined) break;
      entry.state &= ~VM_STATE.WAITING;
      if (isRunning(entry)) continue;
      this.start(entry);
      started++;
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.startBatch();
      }, this.settings.delay * 1000);
    }
  }
}
