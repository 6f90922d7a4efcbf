/**
 * The parent's side of one VM process (vmd's vmm.c work for one VM): it hands the process
 * its {@link VmSpec}, waits for it to run, relays pause and unpause, asks the guest to shut
 * down or ends the process, and reports once when the process has gone, with vmd's result:
 * the VM's `terminate-vm-event` result (EAGAIN when the guest rebooted), else its exit status,
 * else EINTR for a process killed by a signal.
 */

import type { ChildProcess } from 'node:child_process';
import { log } from '../common/log.js';
import { spawnVmProcess } from '../vm/vm_process.js';
import { ERRNO } from './codes.js';
import type { Envelope } from './codec.js';
import type { MessageOf, VmResult, VmSpec } from './messages.js';
import type { Peer } from './peer.js';

/** A VM process as it was started: the child and the framed channel on its fd 3. */
export interface VmProcessHandle {
  child: ChildProcess;
  peer: Peer;
}

/**
 * Starts a VM process (src/vm/vm_process.ts by default) for `spec`, handing it the parent's
 * descriptors `inherit` as its descriptors 4, 5 and on (VM_FIRST_INHERITED_FD), which is
 * how the spec names them.
 */
export type VmLauncher = (spec: VmSpec, inherit: readonly number[]) => VmProcessHandle;

/** The default launcher: `spawnVmProcess` of the VM process. */
export const defaultLauncher: VmLauncher = (_spec, inherit) => spawnVmProcess({ inherit });

/** How long a forced stop waits after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

type Pending = (result: number) => void;

/** One running VM process. */
export class VmRunner {
  /** The VM process's pid. */
  readonly pid: number;
  /**
   * Guest RAM in use (CURMEM): what the VM process last reported in `vm-memory`, at most the
   * VM's memory size; 0 until it reports.
   */
  memoryUsed = 0;
  /** Settles when the process has gone, with the VM's result. */
  readonly exited: Promise<number>;
  private readonly child: ChildProcess;
  private readonly peer: Peer;
  private eventResult: number | null = null;
  private started: ((result: VmResult) => void) | null = null;
  private readonly pending = new Map<string, Pending[]>();
  private stopTimer: NodeJS.Timeout | null = null;
  private stopDeadline = Infinity;
  private killTimer: NodeJS.Timeout | null = null;
  private gone = false;

  /**
   * Starts the VM process for `spec` with `launch`, handing it `inherit` (see
   * {@link VmLauncher}). Throws when it cannot be spawned.
   */
  constructor(
    private readonly spec: VmSpec,
    launch: VmLauncher,
    inherit: readonly number[] = [],
  ) {
    const { child, peer } = launch(spec, inherit);
    // A spawn that fails reports it as an `error` event: unheard, it would end vmd.
    child.on('error', (error) => {
      log.warn('vm "%s": VM process: %s', spec.name, error);
    });
    if (child.pid === undefined) {
      peer.close();
      throw new Error('the VM process could not be started');
    }
    this.child = child;
    this.peer = peer;
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.gone = true;
        this.clearTimers();
        const status = code ?? (signal !== null ? ERRNO.EINTR : ERRNO.EIO);
        const result = this.eventResult ?? status;
        this.started?.({
          result: result === 0 ? ERRNO.EIO : result,
          vmId: spec.vmId,
          pid: null,
          tty: null,
        });
        this.started = null;
        for (const waiters of this.pending.values()) for (const done of waiters) done(ERRNO.ESRCH);
        this.pending.clear();
        this.peer.close();
        resolve(result);
      });
    });
    void this.readMessages();
  }

  /**
   * Sends the VM its spec and waits until it runs or fails: `start-vm-response` with result
   * 0, the pid and the tty, or the failure (EIO when the process ended without an answer).
   */
  start(): Promise<VmResult> {
    return new Promise((resolve) => {
      if (this.gone) {
        resolve({ result: ERRNO.EIO, vmId: this.spec.vmId, pid: null, tty: null });
        return;
      }
      this.started = resolve;
      this.peer.send({ type: 'vm-create', spec: this.spec });
    });
  }

  /** Pauses or unpauses the guest; settles with the VM process's result. */
  pauseOrUnpause(pause: boolean): Promise<number> {
    const type = pause ? 'pause-vm' : 'unpause-vm';
    return new Promise((resolve) => {
      if (this.gone) {
        resolve(ERRNO.ESRCH);
        return;
      }
      const key = `${type}-response`;
      const waiters = this.pending.get(key) ?? [];
      waiters.push(resolve);
      this.pending.set(key, waiters);
      this.peer.send({ type, vm: { id: this.spec.vmId }, uid: null });
    });
  }

  /** Tells the VM process the new log verbosity. */
  setVerbosity(level: number): void {
    if (!this.gone) this.peer.send({ type: 'verbose', level });
  }

  /**
   * Asks the guest to shut down (vmmci; the VM process stops a guest that cannot), and stops
   * the VM forcibly if it is still there after `timeoutMs`.
   */
  shutdown(timeoutMs: number): void {
    if (this.gone) return;
    this.peer.send({ type: 'vm-shutdown' });
    // A second request with a nearer deadline (vmd's own shutdown after a vmctl stop) wins.
    const deadline = performance.now() + timeoutMs;
    if (this.stopTimer !== null && deadline >= this.stopDeadline) return;
    if (this.stopTimer !== null) clearTimeout(this.stopTimer);
    this.stopDeadline = deadline;
    this.stopTimer = setTimeout(() => {
      log.warn(
        'vm "%s": not stopped after %d s, stopping it forcibly',
        this.spec.name,
        timeoutMs / 1000,
      );
      this.kill();
    }, timeoutMs);
  }

  /** Stops the VM at once: SIGTERM, then SIGKILL if the process is still there shortly after. */
  kill(): void {
    if (this.gone || this.killTimer !== null) return;
    this.child.kill('SIGTERM');
    this.killTimer = setTimeout(() => {
      this.child.kill('SIGKILL');
    }, KILL_GRACE_MS);
  }

  private clearTimers(): void {
    if (this.stopTimer !== null) clearTimeout(this.stopTimer);
    if (this.killTimer !== null) clearTimeout(this.killTimer);
    this.stopTimer = this.killTimer = null;
  }

  private async readMessages(): Promise<void> {
    for await (const envelope of this.peer) {
      try {
        this.handle(envelope);
      } catch (error) {
        log.warn('vm "%s": %s', this.spec.name, error instanceof Error ? error.message : error);
      }
    }
  }

  private handle({ message }: Envelope): void {
    switch (message.type) {
      case 'start-vm-response':
        this.onStarted(message);
        return;
      case 'pause-vm-response':
      case 'unpause-vm-response': {
        const done = this.pending.get(message.type)?.shift();
        done?.(message.result);
        return;
      }
      case 'vm-reboot':
        log.debug('vm "%s": guest reboot', this.spec.name);
        return;
      case 'vm-memory':
        this.memoryUsed = Math.min(message.bytes, this.spec.memory);
        return;
      case 'terminate-vm-event':
        this.eventResult = message.result;
        return;
      case 'fail':
        // A VM process that cannot build the machine says so before it exits.
        log.warn('vm "%s": %s', this.spec.name, message.detail ?? `error ${message.error}`);
        if (this.started !== null) this.eventResult = message.error;
        return;
      default:
        log.warn(
          'vm "%s": unexpected message %s from the VM process',
          this.spec.name,
          message.type,
        );
    }
  }

  private onStarted(message: MessageOf<'start-vm-response'>): void {
    const started = this.started;
    this.started = null;
    if (message.result !== 0) this.eventResult = message.result;
    started?.({ ...message, vmId: this.spec.vmId, pid: this.pid });
  }
}
