/**
 * The checks vmd makes when a parsed VM is registered (vmd.c's vm_register and vm_instance)
 * and those that need the whole file: switches that interfaces name, and unused macros.
 *
 * vm_register runs at the end of each `vm` block, so a VM is compared with the ones before
 * it: an instance's parent must come first. As in vmd, the first failed check is reported,
 * as `vm "name" failed: reason`. Inheritance itself (what an instance takes from its
 * parent) is left to whoever starts the VM; the parse keeps what each block says.
 */

import type { Context } from './context.js';
import type { InstancePermissions, VmConfig } from './types.js';
import { isValidVmName } from './validate.js';

function grantsAny(allow: InstancePermissions): boolean {
  return (
    allow.boot ||
    allow.cdrom ||
    allow.disk ||
    allow.instance ||
    allow.interface ||
    allow.memory ||
    allow.owner !== null
  );
}

/** vm_instance's checks, as root makes them: the reason an instance is refused, or null. */
function instanceError(vm: VmConfig, parent: VmConfig): string | null {
  for (const disk of vm.disks) {
    if (parent.disks.some((d) => d.path === disk.path)) {
      return `disk ${disk.path} cannot be reused`;
    }
  }
  for (const nic of vm.interfaces) {
    if (nic.lladdr !== null && parent.interfaces.some((p) => p.lladdr === nic.lladdr)) {
      return 'lladdr cannot be reused';
    }
    if (nic.name !== null && nic.name !== 'tap') {
      if (parent.interfaces.some((p) => p.name === nic.name)) return `${nic.name} cannot be reused`;
    }
  }
  if (grantsAny(vm.allowInstance)) return 'cannot change instance permissions';
  return null;
}

/** Why vm_register would refuse `vm` after `registered`, or null. */
function registerError(registered: readonly VmConfig[], vm: VmConfig): string | null {
  let parent: VmConfig | undefined;
  if (vm.parent !== null) {
    parent = registered.find((v) => v.name === vm.parent);
    if (parent === undefined) return `invalid template "${vm.parent}"`;
  }
  if (registered.some((v) => v.name === vm.name)) return 'already exists';
  if (parent !== undefined) {
    const refused = instanceError(vm, parent);
    if (refused !== null) return refused;
  }
  const boot = vm.boot ?? parent?.boot ?? null;
  const cdrom = vm.cdrom ?? parent?.cdrom ?? null;
  if (boot === null && cdrom === null && vm.disks.length === 0) {
    return 'no kernel or disk/cdrom specified';
  }
  // The Linux boot protocol hands the initrd and command line to a kernel, not to the BIOS.
  if (boot === null && (vm.initrd !== null || vm.cmdline !== null)) {
    return 'initrd and cmdline need a kernel (boot path)';
  }
  if (!isValidVmName(vm.name)) return 'invalid VM name';
  return null;
}

/** Registers a parsed VM, or reports why vmd would refuse it. */
export function registerVm(ctx: Context, vm: VmConfig): void {
  const refused = registerError(ctx.config.vms, vm);
  if (refused !== null) ctx.diag.error(vm.location, `vm "${vm.name}" failed: ${refused}`);
  else ctx.config.vms.push(vm);
}

/**
 * After the whole input: warns about interfaces on switches that no `switch` block defines
 * (vmd ignores the option) and about macros never used (parse_config's warning).
 */
export function checkReferences(ctx: Context): void {
  const switches = new Set(ctx.config.switches.map((sw) => sw.name));
  for (const vm of ctx.config.vms) {
    for (const [index, nic] of vm.interfaces.entries()) {
      if (nic.switch !== null && !switches.has(nic.switch)) {
        ctx.diag.warning(
          vm.location,
          `vm "${vm.name}" interface ${index}: switch "${nic.switch}" is not defined`,
        );
      }
    }
  }
  for (const { name, location } of ctx.macros.unused()) {
    ctx.diag.warning(location, `macro '${name}' not used`);
  }
}
