/**
 * From what vm.conf or `vmctl start` says to what a VM process builds: instances merged with
 * their parents (vmd.c vm_instance), new VMs from vmctl's parameters (vmd.c vm_register), the
 * images checked as config.c's config_setvm opens them, and the {@link VmSpec}.
 */

import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  LIMITS,
  newVmConfig,
  type InstancePermissions,
  type VmConfig,
  type VmInterfaceConfig,
} from '../config/types.js';
import type { Accounts } from './accounts.js';
import { ERRNO, VMD_ERRORS } from './codes.js';
import type { StartInterface, StartVmParams, VmSpec } from './messages.js';
import { checkFileAccess, ownerAllows, type Requester } from './permissions.js';
import type { VmEntry } from './registry.js';

/** The BIOS a VM without `boot` starts (vm.conf(5) `boot`): Debian's seabios package. */
export const DEFAULT_BIOS = '/usr/share/seabios/bios.bin';

/** A request refused: a vmd code or errno value, and the line the parent logs. */
export class StartError extends Error {
  override readonly name = 'StartError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An instance's settings: its own, and its parent's where it gives none (vm_instance). Disks
 * are never inherited; the instance permissions only when the parent allows `instance`.
 */
export function mergeInstance(vm: VmConfig, parent: VmConfig): VmConfig {
  const ownInterfaces = vm.interfaces.length > 0 || vm.interfaceCount !== null;
  return {
    ...vm,
    memory: vm.memory ?? parent.memory,
    boot: vm.boot ?? parent.boot,
    bootDevice: vm.bootDevice ?? parent.bootDevice,
    initrd: vm.initrd ?? parent.initrd,
    cmdline: vm.cmdline ?? parent.cmdline,
    cdrom: vm.cdrom ?? parent.cdrom,
    interfaces: ownInterfaces ? vm.interfaces : parent.interfaces.map((nic) => ({ ...nic })),
    interfaceCount: ownInterfaces ? vm.interfaceCount : parent.interfaceCount,
    owner: vm.owner ?? parent.owner,
    allowInstance: parent.allowInstance.instance ? parent.allowInstance : vm.allowInstance,
  };
}

function startInterface(nic: StartInterface): VmInterfaceConfig {
  return {
    local: nic.local,
    name: null,
    switch: nic.switch,
    group: null,
    lladdr: null,
    locked: false,
    rdomain: null,
    up: true,
  };
}

/** The settings of a new VM that `vmctl start` creates from its options. */
export function configFromRequest(params: StartVmParams & { name: string }, uid: number): VmConfig {
  return {
    ...newVmConfig(params.name, { file: 'vmctl', line: 0 }),
    memory: params.memory,
    boot: params.boot,
    bootDevice: params.bootDevice,
    initrd: params.initrd,
    cmdline: params.cmdline,
    cdrom: params.cdrom,
    disks: params.disks.map((disk) => ({ ...disk })),
    interfaces: params.interfaces.map(startInterface),
    interfaceCount: params.interfaceCount,
    owner: { uid, gid: null },
  };
}

/** True when the request asks for nothing but the kernel (`-b`, with `-I` and `-C`). */
export function onlyBootOptions(params: StartVmParams): boolean {
  return (
    params.memory === null &&
    params.bootDevice === null &&
    params.cdrom === null &&
    params.disks.length === 0 &&
    params.interfaces.length === 0 &&
    params.interfaceCount === null &&
    params.template === null
  );
}

/**
 * vm_register's checks of a new VM's settings: something to boot, an initrd or command line
 * only with a kernel, at most four interfaces in all.
 */
export function checkNewConfig(config: VmConfig): void {
  if (config.boot === null && config.cdrom === null && config.disks.length === 0) {
    throw new StartError(ERRNO.EINVAL, `vm "${config.name}": no kernel or disk/cdrom specified`);
  }
  if (config.boot === null && (config.initrd !== null || config.cmdline !== null)) {
    throw new StartError(ERRNO.EINVAL, `vm "${config.name}": initrd and cmdline need a kernel`);
  }
  const nics = Math.max(config.interfaceCount ?? 0, config.interfaces.length);
  if (nics > LIMITS.maxInterfaces) {
    throw new StartError(ERRNO.EINVAL, `vm "${config.name}": too many interfaces: ${nics}`);
  }
}

/**
 * `vmctl start NAME -t PARENT`: the instance's settings, after vm_instance's checks. The
 * requester needs the parent's `allow instance owner` (else ENAMETOOLONG, as vmd answers),
 * and each setting it changes needs its flag (else EPERM); disks may not be the parent's
 * (EBUSY). Files the requester names must be readable by them (and disks writable).
 */
export function instanceFromRequest(
  params: StartVmParams & { name: string },
  parent: VmEntry,
  requester: Requester,
  accounts: Accounts,
): VmConfig {
  const base = parent.config;
  const allow = base.allowInstance;
  if (!ownerAllows(accounts, allow.owner, requester)) {
    throw new StartError(
      ERRNO.ENAMETOOLONG,
      `vm "${base.name}": no permission to create vm instance`,
    );
  }
  const mayChange = (flag: keyof Omit<InstancePermissions, 'owner'>, given: boolean): void => {
    if (given && !requester.privileged && !allow[flag]) {
      throw new StartError(ERRNO.EPERM, `vm "${base.name}": no permission to set ${flag}`);
    }
  };
  const bootGiven = params.boot !== null || params.initrd !== null || params.cmdline !== null;
  const nicsGiven = params.interfaces.length > 0 || params.interfaceCount !== null;
  mayChange('boot', bootGiven || params.bootDevice !== null);
  mayChange('cdrom', params.cdrom !== null);
  mayChange('disk', params.disks.length > 0);
  mayChange('interface', nicsGiven);
  mayChange('memory', params.memory !== null);
  for (const disk of params.disks) {
    if (base.disks.some((d) => d.path === disk.path)) {
      throw new StartError(ERRNO.EBUSY, `vm "${params.name}": disk ${disk.path} cannot be reused`);
    }
  }
  const own = configFromRequest(params, requester.uid);
  const merged = mergeInstance({ ...own, parent: base.name, owner: null }, base);
  merged.owner = {
    uid: requester.privileged ? (base.owner?.uid ?? 0) : requester.uid,
    gid: base.owner?.gid ?? null,
  };
  if (!requester.privileged) checkRequesterFiles(params, requester, accounts);
  return merged;
}

/** vm_checkaccess on every file a non-privileged requester named. */
function checkRequesterFiles(
  params: StartVmParams,
  requester: Requester,
  accounts: Accounts,
): void {
  const files: [string | null, 'read' | 'read-write'][] = [
    [params.boot, 'read'],
    [params.initrd, 'read'],
    [params.cdrom, 'read'],
    ...params.disks.map((d): [string, 'read-write'] => [d.path, 'read-write']),
  ];
  for (const [path, mode] of files) {
    if (path !== null && checkFileAccess(accounts, path, requester, mode) !== 0) {
      throw new StartError(ERRNO.EPERM, `no ${mode} access to ${path}`);
    }
  }
}

/** Why a file cannot be used, or null: ENOENT when missing, EACCES unless a regular file. */
function fileProblem(path: string): number | null {
  try {
    return statSync(path).isFile() ? null : ERRNO.EACCES;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'EACCES' ? ERRNO.EACCES : ERRNO.ENOENT;
  }
}

/**
 * config_setvm's opening of the images, as checks: the kernel or BIOS (VMD_BIOS_MISSING for
 * the default BIOS, else the errno), the initrd, the CD-ROM (VMD_CDROM_MISSING, or
 * VMD_CDROM_INVALID when not a regular file) and the disks (VMD_DISK_MISSING). Throws a
 * {@link StartError}.
 */
export function checkImages(spec: VmSpec): void {
  const boot = spec.boot ?? DEFAULT_BIOS;
  const bootProblem = fileProblem(boot);
  if (bootProblem !== null) {
    const code = spec.boot === null ? VMD_ERRORS.VMD_BIOS_MISSING : bootProblem;
    throw new StartError(code, `vm "${spec.name}": can't open kernel or BIOS boot image ${boot}`);
  }
  if (spec.initrd !== null && fileProblem(spec.initrd) !== null) {
    const code = fileProblem(spec.initrd) ?? ERRNO.ENOENT;
    throw new StartError(code, `vm "${spec.name}": can't open initrd ${spec.initrd}`);
  }
  if (spec.cdrom !== null) {
    const problem = fileProblem(spec.cdrom);
    if (problem !== null) {
      const code =
        problem === ERRNO.ENOENT ? VMD_ERRORS.VMD_CDROM_MISSING : VMD_ERRORS.VMD_CDROM_INVALID;
      throw new StartError(code, `vm "${spec.name}": can't open cdrom ${spec.cdrom}`);
    }
  }
  for (const disk of spec.disks) {
    if (fileProblem(disk.path) !== null) {
      throw new StartError(
        VMD_ERRORS.VMD_DISK_MISSING,
        `vm "${spec.name}": can't open disk ${disk.path}`,
      );
    }
  }
}

/** A random locally administered MAC in vmd's fe:e1:ba:d0 range. */
export function randomLladdr(): string {
  const [a = 0, b = 0] = randomBytes(2);
  return ['fe', 'e1', 'ba', 'd0', a, b]
    .map((x) => (typeof x === 'string' ? x : x.toString(16).padStart(2, '0')))
    .join(':');
}

/**
 * What the VM process builds for `entry`, with this boot's kernel override. Interfaces without
 * a configured address get a random one, kept in `lladdrs` so that it survives reboots.
 */
export function buildSpec(entry: VmEntry, lladdrs: string[]): VmSpec {
  const { config } = entry;
  const override = entry.bootOverride;
  const nics = Math.max(config.interfaceCount ?? 0, config.interfaces.length);
  const interfaces = Array.from({ length: nics }, (_, index) => {
    const nic = config.interfaces[index];
    lladdrs[index] ??= nic?.lladdr ?? randomLladdr();
    return { lladdr: lladdrs[index], local: nic?.local ?? false, fd: null };
  });
  const boot = override?.boot ?? config.boot;
  // A kernel given for this boot replaces the configured one with its initrd and command line.
  const kernelReplaced = override?.boot !== null && override?.boot !== undefined;
  return {
    vmId: entry.id,
    name: config.name,
    memory: config.memory ?? LIMITS.defaultMemory,
    vcpus: 1,
    boot,
    bootDevice: override?.bootDevice ?? config.bootDevice,
    initrd: override?.initrd ?? (kernelReplaced ? null : config.initrd),
    cmdline: override?.cmdline ?? (kernelReplaced ? null : config.cmdline),
    cdrom: config.cdrom,
    disks: config.disks.map((disk) => ({ ...disk })),
    interfaces,
    // The lifecycle hands over the VM's console pty and files when it spawns the process.
    console: null,
    files: null,
  };
}
