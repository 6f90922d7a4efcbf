/**
 * The parent's list of VMs (vmd.c's `env->vmd_vms` with vm_register, vm_claimid, vm_getbyid,
 * vm_getbyname and vm_remove). A VM's id is claimed once per name and owner and kept for the
 * daemon's lifetime, so a VM keeps its id across restarts, reloads and removal (vmd's
 * `vmd_known` list); ids count up from 1.
 */

import { LIMITS, type Owner, type VmConfig } from '../config/types.js';
import type { Pty } from '../sys/pty.js';
import { VM_STATE, vmStateName } from './codes.js';
import type { VmRef, VmStatus } from './messages.js';
import type { VmRunner } from './vm_control.js';

/** A kernel, initrd and command line given to `vmctl start` of a known VM: this boot only. */
export interface BootOverride {
  boot: string | null;
  initrd: string | null;
  cmdline: string | null;
  bootDevice: VmConfig['bootDevice'];
  /** The uid of the non-privileged user who gave the files, or null (root gave them). */
  namedBy: number | null;
}

/** Files a non-privileged user named for a VM: checked against them each time they open. */
export interface NamedFiles {
  /** The user. */
  uid: number;
  /** Kernel, initrd, CD-ROM and disk paths as the user gave them. */
  paths: readonly string[];
}

/** One VM the parent knows. */
export interface VmEntry {
  /** The vmd id. */
  readonly id: number;
  /** The VM's settings, an instance's merged with its parent's. */
  config: VmConfig;
  /** Defined by vm.conf (or `vmctl load`): kept, stopped, when it stops. */
  fromConfig: boolean;
  /** The settings a reload brought while the VM ran; they apply once it has stopped. */
  pendingConfig: VmConfig | null;
  /** vmd's `vm_state` bits (codes.ts VM_STATE). */
  state: number;
  /** The user the running VM belongs to (vmd's `vm_uid`): who started it. */
  runUid: number;
  /** The VM process while the VM runs. */
  runner: VmRunner | null;
  /**
   * The console pty while the VM runs or restarts after a reboot (vm_console.ts): the parent
   * keeps it, so that it outlives each VM process.
   */
  console: Pty | null;
  /** What the next boot uses instead of the configured kernel, or null. */
  bootOverride: BootOverride | null;
  /** The files of an instance that a non-privileged user made, or null. */
  namedFiles: NamedFiles | null;
  /** When the VM last started (ms, monotonic), for the restart rate limit; null before. */
  lastStart: number | null;
  /** Fast restarts in a row (config.c's `vm_start_limit`). */
  fastRestarts: number;
}

/** The configured owner: root when vm.conf gives none (vmd's uid 0, gid -1). */
export function configuredOwner(config: VmConfig): Owner {
  return config.owner ?? { uid: 0, gid: null };
}

/** True while the VM has a process (running, paused or stopping). */
export function isRunning(entry: VmEntry): boolean {
  return (entry.state & VM_STATE.RUNNING) !== 0;
}

/** The VM as `vmctl status` shows it (vmd's `vmop_info_result`). */
export function vmStatus(entry: VmEntry): VmStatus {
  const running = isRunning(entry);
  const owner = configuredOwner(entry.config);
  // CURMEM is what the VM process says: never shown beyond MAXMEM, whatever it says.
  const maxMemory = entry.config.memory ?? LIMITS.defaultMemory;
  return {
    id: entry.id,
    pid: running ? (entry.runner?.pid ?? null) : null,
    vcpus: 1,
    maxMemory,
    curMemory: running ? Math.min(entry.runner?.memoryUsed ?? 0, maxMemory) : 0,
    tty: running ? (entry.console?.path ?? null) : null,
    owner: running ? { uid: entry.runUid, gid: owner.gid } : owner,
    state: vmStateName(entry.state),
    name: entry.config.name,
  };
}

/** The VMs by id and by name, and the ids ever claimed. */
export class Registry {
  private readonly entries = new Map<number, VmEntry>();
  /** `uid/name` → id, for as long as the daemon runs (vm_claimid's `vmd_known`). */
  private readonly known = new Map<string, number>();
  private lastId = 0;

  /** The id of the VM `name` owned by `uid`: the one it had before, else a new one. */
  claimId(name: string, uid: number): number {
    const key = `${uid}/${name}`;
    let id = this.known.get(key);
    if (id === undefined) {
      // vmd's ids are 32 bits; 4 billion claims would take longer than any daemon runs.
      id = ++this.lastId;
      this.known.set(key, id);
    }
    return id;
  }

  /**
   * Adds a stopped VM with `config` (disabled or waiting to start by its `enable`). Throws
   * when a VM of that name is already there: callers check first, as vm_register does.
   */
  add(config: VmConfig, fromConfig: boolean): VmEntry {
    if (this.byName(config.name) !== undefined) {
      throw new Error(`vm "${config.name}" already exists`);
    }
    const owner = configuredOwner(config);
    const entry: VmEntry = {
      id: this.claimId(config.name, owner.uid),
      config,
      fromConfig,
      pendingConfig: null,
      state: config.enabled ? 0 : VM_STATE.DISABLED,
      runUid: owner.uid,
      runner: null,
      console: null,
      bootOverride: null,
      namedFiles: null,
      lastStart: null,
      fastRestarts: 0,
    };
    this.entries.set(entry.id, entry);
    return entry;
  }

  /** Forgets a VM (its id stays claimed for its name). */
  remove(entry: VmEntry): void {
    if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
  }

  /** True while `entry` is in the registry. */
  has(entry: VmEntry): boolean {
    return this.entries.get(entry.id) === entry;
  }

  /** The VM with id `id`, or undefined. */
  byId(id: number): VmEntry | undefined {
    return this.entries.get(id);
  }

  /** The VM named `name`, or undefined. */
  byName(name: string): VmEntry | undefined {
    for (const entry of this.entries.values()) if (entry.config.name === name) return entry;
    return undefined;
  }

  /** The VM a request names, by id or by name. */
  find(ref: VmRef): VmEntry | undefined {
    return 'id' in ref ? this.byId(ref.id) : this.byName(ref.name);
  }

  /** Every VM, by id. */
  all(): VmEntry[] {
    return [...this.entries.values()].sort((a, b) => a.id - b.id);
  }
}
