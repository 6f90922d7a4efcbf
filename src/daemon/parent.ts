/**
 * vmd's parent process (vmd.c): it reads vm.conf, keeps the VM registry, starts the control
 * process and one VM process per running VM, starts the enabled VMs in staggered batches,
 * answers the requests the control process passes on (requests.ts), reloads on SIGHUP, and on
 * SIGTERM or SIGINT asks every guest to shut down, stops the rest forcibly after 30 seconds
 * and exits (vmd(8) "Signals").
 */

import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, setVerbosity } from '../common/log.js';
import {
  defaultConfig,
  formatDiagnostic,
  parseConfig,
  type GlobalConfig,
  type ParseResult,
  type SwitchConfig,
  type VmConfig,
} from '../config/index.js';
import { hostAccounts, type Accounts } from './accounts.js';
import { ERRNO } from './codes.js';
import { ControlProcess } from './control_channel.js';
import type { Envelope } from './codec.js';
import { VmLifecycle } from './lifecycle.js';
import type { Message, ResetScope } from './messages.js';
import { Registry, isRunning, type VmEntry } from './registry.js';
import { handleRequest, type RequestContext } from './requests.js';
import { StaggeredStarter, staggerSettings } from './staggered.js';
import { defaultLauncher, type VmLauncher } from './vm_control.js';
import { mergeInstance } from './vm_spec.js';

/** How long guests have to shut down when vmd stops (vmd(8) "Signals"). */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Options of {@link Vmd}. */
export interface VmdOptions {
  /** vm.conf. */
  configPath: string;
  /** `-D` macros. */
  macros: Readonly<Record<string, string>>;
  /** The control socket. */
  socketPath: string;
  /** The log verbosity (`-v`). */
  verbosity: number;
  /** Starts VM processes; the VM process of src/vm by default. */
  launcher?: VmLauncher;
  /** User and group lookups; the host's by default. */
  accounts?: Accounts;
}

/**
 * Reads a vm.conf as vmd does: a file that does not exist is an empty configuration with a
 * warning (parse.y's parse_config), anything else is parsed with `macros`.
 */
export function readConfig(path: string, macros: Readonly<Record<string, string>>): ParseResult {
  if (!existsSync(resolve(path))) {
    return {
      config: defaultConfig(),
      errors: [],
      warnings: [
        {
          file: null,
          line: 0,
          message: `failed to open ${path}: No such file or directory`,
          severity: 'warning',
        },
      ],
    };
  }
  return parseConfig(path, { macros });
}

/** The VMs of a parsed file with each instance merged with its parent. */
function effectiveVms(vms: readonly VmConfig[], registry: Registry): VmConfig[] {
  const byName = new Map<string, VmConfig>();
  const merged: VmConfig[] = [];
  for (const vm of vms) {
    const parent =
      vm.parent === null
        ? undefined
        : (byName.get(vm.parent) ?? registry.byName(vm.parent)?.config);
    const effective = parent === undefined ? vm : mergeInstance(vm, parent);
    byName.set(vm.name, effective);
    merged.push(effective);
  }
  return merged;
}

/** The daemon. */
export class Vmd implements RequestContext {
  readonly registry = new Registry();
  readonly accounts: Accounts;
  readonly lifecycle: VmLifecycle;
  readonly staggered: StaggeredStarter;
  shuttingDown = false;
  private global: GlobalConfig = defaultConfig().global;
  private switches: SwitchConfig[] = [];
  private control: ControlProcess | null = null;
  private verbosity: number;
  private stopping: Promise<void> | null = null;
  private exitCode = 0;

  constructor(private readonly options: VmdOptions) {
    this.verbosity = options.verbosity;
    this.accounts = options.accounts ?? hostAccounts();
    this.lifecycle = new VmLifecycle({
      registry: this.registry,
      accounts: this.accounts,
      launcher: options.launcher ?? defaultLauncher,
      onStopped: (entry, result) => {
        this.onStopped(entry, result);
      },
      verbosity: () => this.verbosity,
    });
    this.staggered = new StaggeredStarter((entry) => {
      void this.lifecycle.start(entry);
    }, staggerSettings(null));
  }

  /**
   * Runs vmd: reads the configuration (throws with its errors), starts the control process
   * (throws when it cannot listen), starts the enabled VMs, and serves until SIGTERM or SIGINT
   * has stopped everything. Resolves with the exit status.
   */
  async run(): Promise<number> {
    const parsed = readConfig(this.options.configPath, this.options.macros);
    for (const warning of parsed.warnings) log.warn('%s', formatDiagnostic(warning));
    if (parsed.errors.length > 0) {
      throw new Error(parsed.errors.map(formatDiagnostic).join('\n'));
    }
    this.global = parsed.config.global;
    this.control = await ControlProcess.start({
      socketPath: this.options.socketPath,
      verbosity: this.verbosity,
    });
    this.applySocketOwner();
    this.installSignals();
    log.info('startup');
    this.apply(parsed, 'start');
    await this.serveControl();
    await this.shutdown();
    return this.exitCode;
  }

  /** Root, or the user a private vmd runs as. */
  isPrivileged(uid: number): boolean {
    return uid === 0 || uid === process.geteuid?.();
  }

  private installSignals(): void {
    process.on('SIGHUP', () => {
      log.info('reload requested (SIGHUP)');
      try {
        const error = this.reload();
        if (error !== null) log.warn('reload failed: %s', error);
      } catch (error) {
        // A signal handler's exception would end vmd and every VM with it.
        log.warn('reload failed: %s', error);
      }
    });
    const stop = (signal: string): void => {
      if (this.shuttingDown) {
        log.info('%s again: stopping every VM forcibly', signal);
        for (const entry of this.registry.all()) this.lifecycle.stop(entry, true, 0);
        return;
      }
      log.info('%s received, shutting down', signal);
      void this.shutdown();
    };
    process.on('SIGTERM', () => {
      stop('SIGTERM');
    });
    process.on('SIGINT', () => {
      stop('SIGINT');
    });
    for (const ignored of ['SIGPIPE', 'SIGUSR1'] as const) process.on(ignored, () => undefined);
  }

  /** Passes requests to handleRequest until the control process is stopped; restarts it if it dies. */
  private async serveControl(): Promise<void> {
    while (this.control !== null) {
      const control = this.control;
      for await (const envelope of control.requests()) void this.dispatch(control, envelope);
      if (this.shuttingDown) return;
      const status = await control.exited;
      log.warn('control process exited (status %s), starting it again', status ?? 'signal');
      await new Promise((done) => setTimeout(done, 1000));
      if (this.stopping !== null) return;
      try {
        this.control = await ControlProcess.start({
          socketPath: this.options.socketPath,
          verbosity: this.verbosity,
        });
        this.applySocketOwner();
      } catch (error) {
        log.warn('%s', error instanceof Error ? error.message : error);
        this.exitCode = 1;
        this.control = null;
      }
    }
  }

  private async dispatch(control: ControlProcess, { id, message }: Envelope): Promise<void> {
    const reply = (answer: Message): void => {
      control.send(answer, id);
    };
    try {
      await handleRequest(this, message, reply);
    } catch (error) {
      log.warn('%s request failed: %s', message.type, error);
      reply({ type: 'fail', error: ERRNO.EIO, detail: null });
    }
  }

  /** vmd's `socket owner`: the socket's owner and group, mode 0660. */
  private applySocketOwner(): void {
    const path = this.options.socketPath;
    const { uid, gid } = this.global.socketOwner;
    try {
      if (process.geteuid?.() === 0) {
        chownSync(path, uid, gid ?? 0);
        chmodSync(path, 0o660);
      } else if (gid !== null && gid !== 0) {
        // A private vmd may hand its socket to a group of its user's.
        chownSync(path, -1, gid);
        chmodSync(path, 0o660);
      }
    } catch (error) {
      log.warn('cannot set the owner of %s: %s', path, error);
    }
  }

  /**
   * Adds the VMs of a parsed file: new ones are registered (and the enabled ones queued for
   * the staggered start), running ones take the new settings when they stop, and on `load`
   * a VM that exists already is refused as vm_register refuses it.
   */
  private apply(parsed: ParseResult, mode: 'start' | 'reload' | 'load'): void {
    if (mode !== 'load') {
      this.global = parsed.config.global;
      this.switches = parsed.config.switches;
      this.staggered.configure(staggerSettings(this.global.staggeredStart));
    } else {
      this.switches.push(
        ...parsed.config.switches.filter((sw) => !this.switches.some((s) => s.name === sw.name)),
      );
    }
    const queued: VmEntry[] = [];
    for (const config of effectiveVms(parsed.config.vms, this.registry)) {
      const existing = this.registry.byName(config.name);
      if (existing === undefined) {
        const entry = this.registry.add(config, true);
        log.verbose(
          'vm "%s" (id %d) registered (%s)',
          config.name,
          entry.id,
          config.enabled ? 'enabled' : 'disabled',
        );
        if (config.enabled) queued.push(entry);
      } else if (mode === 'reload' && isRunning(existing)) {
        existing.pendingConfig = config;
        existing.fromConfig = true;
      } else {
        log.warn('vm "%s" failed: already exists', config.name);
      }
    }
    this.staggered.enqueue(queued);
  }

  /** `vmctl load`: parses another file and adds its VMs and switches. */
  load(path: string): string | null {
    const parsed = parseConfig(path, { macros: this.options.macros });
    if (parsed.errors.length > 0) {
      for (const error of parsed.errors) log.warn('%s', formatDiagnostic(error));
      return parsed.errors.map(formatDiagnostic).join('\n');
    }
    log.info('loading %s', path);
    this.apply(parsed, 'load');
    return null;
  }

  /**
   * `vmctl reload` and SIGHUP: stopped VMs are removed and the file read again; running VMs
   * keep their settings until they stop, and are forgotten then if the file no longer has
   * them. A file with errors changes nothing.
   */
  reload(): string | null {
    if (this.shuttingDown) return 'vmd is shutting down';
    const parsed = readConfig(this.options.configPath, this.options.macros);
    for (const warning of parsed.warnings) log.warn('%s', formatDiagnostic(warning));
    if (parsed.errors.length > 0) {
      for (const error of parsed.errors) log.warn('%s', formatDiagnostic(error));
      return parsed.errors.map(formatDiagnostic).join('\n');
    }
    this.staggered.clear();
    for (const entry of this.registry.all()) {
      if (isRunning(entry)) {
        entry.fromConfig = false;
        entry.pendingConfig = null;
      } else {
        this.registry.remove(entry);
      }
    }
    log.info('reloading %s', this.options.configPath);
    this.apply(parsed, 'reload');
    this.applySocketOwner();
    return null;
  }

  /** `vmctl reset`: `vms` (and `all`) stops every VM forcibly and forgets it. */
  reset(scope: ResetScope): void {
    log.info('reset %s', scope);
    if (scope === 'switches') return;
    this.staggered.clear();
    for (const entry of this.registry.all()) {
      this.lifecycle.stop(entry, true, 0);
      this.registry.remove(entry);
    }
  }

  /** `vmctl log`: the verbosity of every process. */
  setVerbosity(level: number): void {
    this.verbosity = level;
    setVerbosity(level);
    this.control?.send({ type: 'verbose', level }, 0);
    for (const entry of this.registry.all()) entry.runner?.setVerbosity(level);
  }

  /** A VM stopped for good: waiters hear of it, and its settings are brought up to date. */
  private onStopped(entry: VmEntry, result: number): void {
    this.control?.send(
      { type: 'terminate-vm-event', result, vmId: entry.id, pid: null, tty: null },
      0,
    );
    if (entry.pendingConfig !== null) {
      entry.config = entry.pendingConfig;
      entry.pendingConfig = null;
    }
    if (!entry.fromConfig) this.registry.remove(entry);
  }

  /** Stops every VM (gracefully, forcibly after 30 s), then the control process. */
  shutdown(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.shuttingDown = true;
    this.lifecycle.shuttingDown = true;
    this.staggered.clear();
    const exits: Promise<number>[] = [];
    for (const entry of this.registry.all()) {
      const runner = entry.runner;
      if (runner === null) continue;
      this.lifecycle.stop(entry, false, SHUTDOWN_TIMEOUT_MS);
      exits.push(runner.exited);
    }
    await Promise.all(exits);
    this.lifecycle.releaseConsoles(this.registry.all());
    const control = this.control;
    this.control = null;
    if (control === null) return;
    await control.stop();
    this.removeSocket();
    log.info('exiting');
  }

  private removeSocket(): void {
    try {
      if (lstatSync(this.options.socketPath).isSocket()) unlinkSync(this.options.socketPath);
    } catch {
      // Already gone: the control process's server removes it when it closes.
    }
  }
}
