/**
 * Who may do what to a VM, after vmd.c's vm_checkperm, vm_checkinsflag and vm_checkaccess
 * (vmd-features §3.4, §7.4; vmctl(8), vm.conf(5) `owner` and `allow instance`).
 *
 * A *privileged* requester may do everything: root, and for a private vmd run by another
 * user, that user (vmd(8) "A private vmd"). Everyone else may act on a VM they started while
 * it runs, on a stopped VM whose configured owner they are, and on any VM whose owner group
 * they are in; they may create instances only where `allow instance owner` names them, and
 * change only what the parent's `allow instance` flags allow.
 */

import { constants, statSync, type Stats } from 'node:fs';
import type { Owner } from '../config/types.js';
import { isInGroup, type Accounts } from './accounts.js';
import { ERRNO } from './codes.js';
import { configuredOwner, isRunning, type VmEntry } from './registry.js';

/** Who sent a request: the uid the control process read from the socket. */
export interface Requester {
  /** The client's uid (SO_PEERCRED). */
  uid: number;
  /** Root, or the user a private vmd runs as: no restrictions. */
  privileged: boolean;
}

/**
 * vm_checkperm with no VM: true when `owner` names `uid` or a group `uid` is in. A null owner
 * (vm.conf gave none) is root's alone.
 */
export function ownerAllows(
  accounts: Accounts,
  owner: Owner | null,
  requester: Requester,
): boolean {
  if (requester.privileged) return true;
  if (owner === null) return false;
  if (owner.uid === requester.uid) return true;
  return owner.gid !== null && isInGroup(accounts, requester.uid, owner.gid);
}

/**
 * vm_checkperm: may `requester` start, stop, pause, unpause, wait for or attach to `vm`? The
 * user of a running VM is who started it; that of a stopped one, its configured owner.
 */
export function mayControl(accounts: Accounts, vm: VmEntry, requester: Requester): boolean {
  if (requester.privileged) return true;
  const owner = configuredOwner(vm.config);
  const user = isRunning(vm) ? vm.runUid : owner.uid;
  if (user === requester.uid) return true;
  return owner.gid !== null && isInGroup(accounts, requester.uid, owner.gid);
}

/** What a file must allow for {@link checkFileAccess}. */
export type AccessMode = 'read' | 'read-write';

/**
 * vm_checkaccess: 0 when `path` is a regular file that `requester` may open as `mode` by its
 * permission bits (other, then owner, then group, as vmd checks them), else ENOENT for a
 * missing file and EPERM otherwise. Privileged requesters skip the permission bits; the file
 * must still be a regular file.
 */
export function checkFileAccess(
  accounts: Accounts,
  path: string,
  requester: Requester,
  mode: AccessMode,
): number {
  let st;
  try {
    st = statSync(path);
  } catch {
    return ERRNO.ENOENT;
  }
  return checkStatAccess(accounts, st, requester, mode);
}

/**
 * {@link checkFileAccess} on a file already opened (fstat(2)): what the parent checks on the
 * descriptors it passes to a VM process, so that the file checked is the file used.
 */
export function checkStatAccess(
  accounts: Accounts,
  st: Stats,
  requester: Requester,
  mode: AccessMode,
): number {
  if (!st.isFile()) return ERRNO.EPERM;
  if (requester.privileged) return 0;
  const write = mode === 'read-write';
  const other = constants.S_IROTH | (write ? constants.S_IWOTH : 0);
  if ((st.mode & other) === other) return 0;
  const user = constants.S_IRUSR | (write ? constants.S_IWUSR : 0);
  if (st.uid === requester.uid && (st.mode & user) === user) return 0;
  const group = constants.S_IRGRP | (write ? constants.S_IWGRP : 0);
  if ((st.mode & group) === group && isInGroup(accounts, requester.uid, st.gid)) return 0;
  return ERRNO.EPERM;
}
