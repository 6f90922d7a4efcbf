/**
 * Starting and stopping VMs, and what happens when a VM process ends (vmd.c's
 * vmd_dispatch_vmm TERMINATE_VM_EVENT, config.c's config_setvm, vmd-features §3.6): a guest
 * that rebooted is started again in a new process, unless a stop was requested, a boot device
 * is forced, or it restarts too quickly (three times in a row less than 6 s apart, config.c's
 * VM_START_RATE_SEC and VM_START_RATE_LIMIT); a VM from vm.conf is kept as stopped, one that
 * vmctl created is forgotten. The VM's console pty is the parent's (vm_console.ts): opened
 * at the first start, kept across the restarts, closed when the VM has stopped for good.
 * A VM counts as running from the moment a start begins until it has stopped for good,
 * restarts included: a second start meanwhile is refused, and status shows no gap.
 */

import { constants } from 'node:os';
import { log } from '../common/log.js';
import type { Pty } from '../sys/pty.js';
import type { Accounts } from './accounts.js';
import { ERRNO, VM_STATE, VMD_ERRORS } from './codes.js';
import type { VmResult } from './messages.js';
import { isRunning, type Registry, type VmEntry } from './registry.js';
import { closeVmConsole, consoleHandover, vmConsole } from './vm_console.js';
import { VmRunner, type VmLauncher } from './vm_control.js';
import { VM_FIRST_INHERITED_FD } from '../vm/vm_process.js';
import { fileCheckOf, openVmFiles } from './vm_files.js';
import { buildSpec, checkImages, StartError } from './vm_spec.js';

/** A restart sooner than this after the previous start is a fast one (VM_START_RATE_SEC). */
export const START_RATE_MS = 6000;
/** Fast restarts in a row after which a VM is not started again (VM_START_RATE_LIMIT). */
export const START_RATE_LIMIT = 3;
/** How long a VM process may take to answer `vm-create` before it is given up. */
const START_TIMEOUT_MS = 60_000;
/** errno values by name, as the host numbers them. */
const HOST_ERRNO: Readonly<Record<string, number>> = constants.errno;

/** What the lifecycle needs from the parent. */
export interface LifecycleOptions {
  registry: Registry;
  accounts: Accounts;
  launcher: VmLauncher;
  /** Called once when a VM has stopped for good, with its result (after any restart is ruled out). */
  onStopped: (entry: VmEntry, result: number) => void;
  /** The current log verbosity, passed to new VM processes. */
  verbosity: () => number;
}

/** How a start went: `start-vm-response`'s fields, and why it failed when vmd can say. */
export interface StartOutcome extends VmResult {
  /** A message for vmctl naming what was wrong (a disk image, say), or null. */
  detail: string | null;
}

function outcome(entry: VmEntry, result: number, detail: string | null = null): StartOutcome {
  return { result, vmId: entry.id, pid: null, tty: null, detail };
}

/** A start or a restart that failed: the VM is left stopped. */
function failedSpawn(entry: VmEntry, result: number, detail: string | null = null): StartOutcome {
  entry.runner = null;
  entry.state &= ~(VM_STATE.RUNNING | VM_STATE.PAUSED | VM_STATE.SHUTDOWN);
  return outcome(entry, result, detail);
}

/** Starts, stops and restarts VMs. */
export class VmLifecycle {
  /** Set while vmd shuts down: guests that reboot are not started again. */
  shuttingDown = false;
  private readonly lladdrs = new WeakMap<VmEntry, string[]>();

  constructor(private readonly options: LifecycleOptions) {}

  /**
   * Starts `entry` in a new VM process and waits until it runs: `start-vm-response`'s fields.
   * A failure leaves the VM stopped (and forgets one that vmctl created).
   */
  start(entry: VmEntry): Promise<StartOutcome> {
    if (isRunning(entry)) return Promise.resolve(outcome(entry, ERRNO.EALREADY));
    if (this.shuttingDown) {
      if (!entry.fromConfig) this.options.registry.remove(entry);
      return Promise.resolve(outcome(entry, ERRNO.EBUSY));
    }
    // Running from now on, so that a second start of the VM meanwhile is refused.
    entry.state = (entry.state & VM_STATE.DISABLED) | VM_STATE.RUNNING;
    return this.launch(entry);
  }

  /**
   * Starts the VM process of `entry`, which is marked running already (a start or a restart);
   * if that fails, the VM has stopped, and whoever waits for it hears so.
   */
  private async launch(entry: VmEntry): Promise<StartOutcome> {
    const outcome = await this.spawn(entry);
    if (outcome.result !== 0) this.stopped(entry, outcome.result);
    return outcome;
  }

  private async spawn(entry: VmEntry): Promise<StartOutcome> {
    const limited = this.rateLimit(entry);
    if (limited !== 0) return failedSpawn(entry, limited);
    let runner: VmRunner;
    try {
      const lladdrs = this.lladdrs.get(entry) ?? [];
      this.lladdrs.set(entry, lladdrs);
      const spec = buildSpec(entry, lladdrs);
      checkImages(spec);
      const pty = this.console(entry);
      if (typeof pty === 'number') return failedSpawn(entry, pty);
      const handover = consoleHandover(pty);
      const firstFd = VM_FIRST_INHERITED_FD + handover.inherit.length;
      const files = await openVmFiles(spec, firstFd, fileCheckOf(entry, this.options.accounts));
      try {
        runner = new VmRunner(
          { ...spec, console: handover.spec, files: files.specs },
          this.options.launcher,
          [...handover.inherit, ...files.descriptors],
        );
      } finally {
        // The VM process has its own descriptors now (it holds the disks' locks from here on).
        files.close();
      }
    } catch (error) {
      const code = error instanceof StartError ? error.code : ERRNO.EIO;
      log.warn('vm "%s": start failed: %s', entry.config.name, error);
      return failedSpawn(entry, code, error instanceof StartError ? error.message : null);
    }
    entry.runner = runner;
    let started = false;
    void runner.exited.then((result) => {
      this.onExit(entry, runner, result, started);
    });
    const timer = setTimeout(() => {
      log.warn('vm "%s": the VM process did not start in time', entry.config.name);
      runner.kill();
    }, START_TIMEOUT_MS);
    const response = await runner.start();
    clearTimeout(timer);
    if (response.result !== 0) {
      log.warn('vm "%s": start failed: error %d', entry.config.name, response.result);
      // The process's end is no longer this entry's business.
      runner.kill();
      return failedSpawn(entry, response.result);
    }
    started = true;
    // The VM process takes `vm-create` first; the verbosity follows.
    if (this.options.verbosity() > 0) runner.setVerbosity(this.options.verbosity());
    log.info(
      'vm "%s" (id %d) started, pid %d, tty %s',
      entry.config.name,
      entry.id,
      runner.pid,
      response.tty ?? '-',
    );
    // A stop that came while the process was being made, or vmd began to shut down.
    if ((entry.state & VM_STATE.SHUTDOWN) !== 0 || this.shuttingDown) runner.kill();
    return { result: 0, vmId: entry.id, pid: runner.pid, tty: response.tty, detail: null };
  }

  /**
   * Stops a running VM: asks the guest to shut down and stops it forcibly after `timeoutMs`,
   * or at once with `force`. Returns 0, VMD_VM_STOP_INVALID when the VM is not running, or
   * EALREADY when it is already stopping and `force` is not given.
   */
  stop(entry: VmEntry, force: boolean, timeoutMs: number): number {
    const runner = entry.runner;
    if (!isRunning(entry)) return VMD_ERRORS.VMD_VM_STOP_INVALID;
    if ((entry.state & VM_STATE.SHUTDOWN) !== 0 && !force) return ERRNO.EALREADY;
    entry.state |= VM_STATE.SHUTDOWN;
    if (runner === null) {
      // Its process is being made: launch() ends it as soon as it is there.
    } else if (force) {
      runner.kill();
    } else {
      // The VM process resumes a paused guest so that it can shut down.
      entry.state &= ~VM_STATE.PAUSED;
      runner.shutdown(timeoutMs);
    }
    return 0;
  }

  /** config_setvm's rate limit: 0, or EPERM when the VM restarted too quickly. */
  private rateLimit(entry: VmEntry): number {
    const now = performance.now();
    if (entry.lastStart !== null) {
      const since = now - entry.lastStart;
      entry.fastRestarts = since < START_RATE_MS ? entry.fastRestarts + 1 : 0;
      log.debug(
        'vm "%s" (id %d) restarted after %s s, limit %d/%d',
        entry.config.name,
        entry.id,
        (since / 1000).toFixed(3),
        entry.fastRestarts,
        START_RATE_LIMIT,
      );
      if (entry.fastRestarts >= START_RATE_LIMIT) {
        log.warn('vm "%s" (id %d) restarted too quickly', entry.config.name, entry.id);
        return ERRNO.EPERM;
      }
    }
    entry.lastStart = now;
    return 0;
  }

  /** The VM process has gone: restart a rebooted guest, or record the VM as stopped. */
  private onExit(entry: VmEntry, runner: VmRunner, result: number, started: boolean): void {
    if (entry.runner !== runner) return;
    const stopping = (entry.state & VM_STATE.SHUTDOWN) !== 0;
    entry.runner = null;
    entry.state &= ~(VM_STATE.PAUSED | VM_STATE.SHUTDOWN);
    if (!started) return; // launch() has seen the failure and leaves the VM stopped
    const bootDevice = entry.bootOverride?.bootDevice ?? entry.config.bootDevice;
    const reboot =
      result === ERRNO.EAGAIN &&
      !stopping &&
      bootDevice === null &&
      !this.shuttingDown &&
      this.options.registry.has(entry);
    if (reboot) {
      // The VM stays running (with its console) while its next process is made.
      log.info('vm "%s" (id %d) rebooted, restarting it', entry.config.name, entry.id);
      void this.launch(entry);
      return;
    }
    entry.state &= ~VM_STATE.RUNNING;
    // A reboot that is not a restart ends the VM normally.
    this.stopped(entry, result === ERRNO.EAGAIN ? 0 : result);
  }

  private stopped(entry: VmEntry, result: number): void {
    closeVmConsole(entry);
    entry.bootOverride = null;
    log.info('vm "%s" (id %d) stopped (result %d)', entry.config.name, entry.id, result);
    this.options.onStopped(entry, result);
  }

  /** The VM's console pty (kept across reboots), or the errno of a failure to open one. */
  private console(entry: VmEntry): Pty | number {
    try {
      return vmConsole(entry, this.options.accounts);
    } catch (error) {
      log.warn('vm "%s": cannot open a console pty: %s', entry.config.name, error);
      const code = (error as NodeJS.ErrnoException).code;
      const errno = code === undefined ? undefined : HOST_ERRNO[code];
      return errno ?? ERRNO.EIO;
    }
  }

  /** Closes the console of every VM that is not running: vmd exits (vm_closetty). */
  releaseConsoles(entries: readonly VmEntry[]): void {
    for (const entry of entries) if (!isRunning(entry)) closeVmConsole(entry);
  }
}
