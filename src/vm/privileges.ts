/**
 * A VM process gives up root once its files are open, as vmd's VM processes run as the
 * unprivileged `_vmd` user: the guest's devices then act with the rights of a user that owns
 * nothing, whatever a hostile guest makes of them. Linux has no `_vmd`; `nobody` stands in.
 */

import { readFileSync } from 'node:fs';
import { parsePasswd } from '../daemon/accounts.js';

/** The user a VM process runs as once started by root. */
export const VM_USER = 'nobody';
/** nobody/nogroup's ids where passwd(5) does not list the user. */
const OVERFLOW_ID = 65534;

/** The uid and primary gid of {@link VM_USER}. */
export function vmUser(passwdPath = '/etc/passwd'): { uid: number; gid: number } {
  let text = '';
  try {
    text = readFileSync(passwdPath, 'utf8');
  } catch {
    // No passwd file: the kernel's overflow ids are nobody's on every distribution.
  }
  for (const entry of parsePasswd(text).values()) {
    if (entry.name === VM_USER) return { uid: entry.uid, gid: entry.gid };
  }
  return { uid: OVERFLOW_ID, gid: OVERFLOW_ID };
}

/**
 * Switches a process running as root to {@link VM_USER}: no supplementary groups, then the
 * group, then the user (in that order, since only root may change groups). Returns the uid it
 * runs as afterwards. A process not running as root keeps its user.
 */
export function dropPrivileges(): number {
  // These exist on POSIX systems only; this is a Linux program.
  if (process.getuid === undefined || process.setgroups === undefined) return -1;
  if (process.setgid === undefined || process.setuid === undefined) return -1;
  const uid = process.getuid();
  if (uid !== 0) return uid;
  const user = vmUser();
  process.setgroups([]);
  process.setgid(user.gid);
  process.setuid(user.uid);
  return user.uid;
}
