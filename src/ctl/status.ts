/**
 * `vmctl status` (vmctl.c `print_vm_info`): which VMs are shown, and the table with OpenBSD's
 * columns and widths, or this port's JSON for scripts (`-j`).
 *
 * ```
 *    ID   PID VCPUS  MAXMEM  CURMEM     TTY        OWNER    STATE NAME
 *     1 12345     1    512M   12.5M   pts/3         root  running web
 * ```
 */

import type { Owner } from '../config/types.js';
import type { VmRef, VmStatus } from '../daemon/messages.js';
import { fmtScaled } from './fmt_scaled.js';

/** Names for the OWNER column: user_from_uid(3) and group_from_gid(3). */
export interface OwnerNames {
  /** The user's name, or undefined when the uid has none. */
  user(uid: number): string | undefined;
  /** The group's name, or undefined when the gid has none. */
  group(gid: number): string | undefined;
}

/** Which VMs `status` shows. */
export interface StatusFilter {
  /** Only this VM (by id or name), or null for all. */
  vm: VmRef | null;
  /** `-r`: only running VMs. */
  runningOnly: boolean;
}

/** One VM as `-j` prints it: the columns, named in lower case, sizes in bytes. */
export interface StatusJson {
  id: number;
  pid: number | null;
  vcpus: number;
  maxmem: number;
  /** Null when the VM is not running, where the table shows `-`. */
  curmem: number | null;
  /** The console's full path, or null. */
  tty: string | null;
  /** `user[:group]`, as in the table. */
  owner: string;
  state: VmStatus['state'];
  name: string;
}

/** A VM runs when it has a process (vmctl: a creator pid and an id). */
function isRunning(vm: VmStatus): boolean {
  return vm.pid !== null;
}

/** The VMs `filter` selects, in the order vmd listed them (check_info_id and `-r`). */
export function selectVms(list: readonly VmStatus[], filter: StatusFilter): VmStatus[] {
  const { vm: wanted, runningOnly } = filter;
  return list.filter((vm) => {
    if (runningOnly && !isRunning(vm)) return false;
    if (wanted === null) return true;
    return 'id' in wanted ? vm.id === wanted.id : vm.name === wanted.name;
  });
}

/** The OWNER column: the user's name (else the uid), then `:group` when the VM has a group. */
export function ownerText(owner: Owner, names: OwnerNames): string {
  const user = names.user(owner.uid) ?? String(owner.uid);
  if (owner.gid === null) return user;
  return `${user}:${names.group(owner.gid) ?? String(owner.gid)}`;
}

/**
 * The TTY column: the console's path without `/dev/` (`pts/3`), as vmctl shows the device
 * without its folder; another path (a console socket) by its last part.
 */
export function ttyText(tty: string | null): string {
  if (tty === null || tty === '') return '-';
  if (tty.startsWith('/dev/') && tty.length > 5) return tty.slice(5);
  const base = tty.slice(tty.lastIndexOf('/') + 1);
  return base === '' ? tty : base;
}

/** printf's `%Ns`: right-aligned in a field of at least `width`. */
function right(text: string | number, width: number): string {
  return String(text).padStart(width);
}

/** One line of the table, as `%5s %5s %5s %7s %7s %7s %12s %8s %s`. */
function row(cells: readonly (string | number)[]): string {
  const widths = [5, 5, 5, 7, 7, 7, 12, 8];
  const padded = widths.map((width, i) => right(cells[i] ?? '', width));
  return `${padded.join(' ')} ${String(cells[widths.length] ?? '')}\n`;
}

/** The table of `list`: the header, then one line per VM. */
export function formatStatusTable(list: readonly VmStatus[], names: OwnerNames): string {
  let text = row(['ID', 'PID', 'VCPUS', 'MAXMEM', 'CURMEM', 'TTY', 'OWNER', 'STATE', 'NAME']);
  for (const vm of list) {
    const running = isRunning(vm);
    text += row([
      vm.id,
      running ? String(vm.pid) : '-',
      vm.vcpus,
      fmtScaled(vm.maxMemory),
      running ? fmtScaled(vm.curMemory) : '-',
      running ? ttyText(vm.tty) : '-',
      ownerText(vm.owner, names),
      vm.state,
      vm.name,
    ]);
  }
  return text;
}

/** `list` as `-j` prints it. */
export function statusJson(list: readonly VmStatus[], names: OwnerNames): StatusJson[] {
  return list.map((vm) => {
    const running = isRunning(vm);
    return {
      id: vm.id,
      pid: vm.pid,
      vcpus: vm.vcpus,
      maxmem: vm.maxMemory,
      curmem: running ? vm.curMemory : null,
      tty: running ? vm.tty : null,
      owner: ownerText(vm.owner, names),
      state: vm.state,
      name: vm.name,
    };
  });
}

/** The JSON text of `list`: an array, one object per VM, and a final newline. */
export function formatStatusJson(list: readonly VmStatus[], names: OwnerNames): string {
  return `${JSON.stringify(statusJson(list, names), null, 2)}\n`;
}
