/**
 * A VM's console pty as the parent keeps it (vmd.c's vm_opentty and vm_closetty): opened when
 * the VM starts, handed to each VM process the VM has (both ends, inherited as descriptors),
 * and kept while the guest reboots, so that its path stays the same and a client attached to
 * it (`vmctl console`, cu(1), screen(1)) stays attached. It is closed once the VM has stopped
 * for good, which hangs up its clients and removes its /dev/pts entry.
 *
 * The parent never reads or writes the pty; the VM process of the moment does. Holding the
 * slave as well means the master never sees a hang-up while the guest reboots with nobody
 * attached, and output waits in the kernel's queue for the next client.
 */

import { closeSync, fchmodSync, fchownSync } from 'node:fs';
import { log } from '../common/log.js';
import { openPty, type Pty } from '../sys/pty.js';
import { VM_FIRST_INHERITED_FD } from '../vm/vm_process.js';
import type { Accounts } from './accounts.js';
import type { VmConsoleSpec } from './messages.js';
import { configuredOwner, type VmEntry } from './registry.js';

/** The group of consoles that no owner group claims (vmd: the tty group). */
const TTY_GROUP = 'tty';

/**
 * The VM's console: the one it has (a guest that rebooted keeps it), else a new pty given to
 * the VM's user. Throws when no pty can be had (EMFILE, EAGAIN at the host's pty limit).
 */
export function vmConsole(entry: VmEntry, accounts: Accounts): Pty {
  if (entry.console !== null) return entry.console;
  const pty = openPty();
  giveConsole(entry, accounts, pty);
  entry.console = pty;
  log.debug('vm "%s" (id %d): console %s', entry.config.name, entry.id, pty.path);
  return pty;
}

/** Closes the VM's console, if it has one: its clients are hung up. */
export function closeVmConsole(entry: VmEntry): void {
  const pty = entry.console;
  if (pty === null) return;
  entry.console = null;
  // On Linux the /dev/pts entry goes with the master, so there is no owner and mode to reset
  // as vm_closetty resets them (0:0, 0666) on OpenBSD's persistent ttys.
  for (const fd of [pty.master, pty.slave]) {
    try {
      closeSync(fd);
    } catch (error) {
      log.warn('vm "%s": closing console %s: %s', entry.config.name, pty.path, error);
    }
  }
  log.debug('vm "%s" (id %d): console %s closed', entry.config.name, entry.id, pty.path);
}

/**
 * How a VM process gets the console: the spec's descriptor numbers in the child, and the
 * parent's descriptors to hand over as them, in that order.
 */
export function consoleHandover(pty: Pty): { spec: VmConsoleSpec; inherit: number[] } {
  return {
    spec: { master: VM_FIRST_INHERITED_FD, slave: VM_FIRST_INHERITED_FD + 1, path: pty.path },
    inherit: [pty.master, pty.slave],
  };
}

/**
 * vm_opentty's ownership: the console belongs to the VM's user, with the owner group and
 * mode 0660, or group tty and mode 0620 when the VM has no owner group. Only root can give it
 * away; a private vmd's consoles are its user's already.
 */
function giveConsole(entry: VmEntry, accounts: Accounts, pty: Pty): void {
  if (process.geteuid?.() !== 0) return;
  const group = configuredOwner(entry.config).gid;
  const gid = group ?? accounts.groupNamed(TTY_GROUP)?.gid ?? 0;
  try {
    // Through the descriptor: the pty just opened, whatever its path names by now.
    fchownSync(pty.slave, entry.runUid, gid);
    fchmodSync(pty.slave, group !== null ? 0o660 : 0o620);
  } catch (error) {
    log.warn(
      'vm "%s": cannot give console %s to uid %d: %s',
      entry.config.name,
      pty.path,
      entry.runUid,
      error,
    );
  }
}
