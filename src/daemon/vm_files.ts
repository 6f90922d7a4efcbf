/**
 * The files of a VM, opened by the parent for its VM process (vmd's config_setvm): the kernel,
 * the initrd, and every file of every disk, backing files included. The parent checks each
 * file it opened — a regular file, a disk image it can read, and for files a non-privileged
 * user named, that user's access by the file's own permission bits (vm_checkaccess on the
 * descriptor) — and the VM process then uses those descriptors only. A path that a user
 * changes after the checks, say to a symbolic link to a file of root's, cannot change which
 * file the guest gets, and a qcow2 image cannot reach a backing file its user may not read.
 */

import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { descriptorFile, type FileOpener, type HeldFile } from '../block/image_file.js';
import { errnoOf } from '../common/errno.js';
import { duplicateDescriptor } from '../sys/descriptors.js';
import { closeDisks, DiskOpenError, openDisks } from '../vm/disks.js';
import type { Accounts } from './accounts.js';
import { ERRNO, VMD_ERRORS } from './codes.js';
import type { VmFileSpec, VmSpec } from './messages.js';
import { checkStatAccess, type AccessMode } from './permissions.js';
import type { VmEntry } from './registry.js';
import { StartError } from './vm_spec.js';

/** The files a non-privileged user named for a VM, and who that is. */
export interface FileCheck {
  uid: number;
  paths: ReadonlySet<string>;
  accounts: Accounts;
}

/** What {@link openVmFiles} opened. */
export interface VmFiles {
  /** The files as the VM process will have them: its descriptor numbers from `firstFd` on. */
  specs: VmFileSpec[];
  /** The parent's descriptors, in the order the VM process inherits them. */
  descriptors: number[];
  /** Closes the parent's descriptors: once the VM process has its own, or if it never starts. */
  close(): void;
}

/** The files of `entry` that their user named: checked against that user as they open. */
export function fileCheckOf(entry: VmEntry, accounts: Accounts): FileCheck | null {
  const paths = new Set(entry.namedFiles?.paths ?? []);
  const override = entry.bootOverride;
  let uid = entry.namedFiles?.uid ?? null;
  if (override !== null && override.namedBy !== null) {
    uid = override.namedBy;
    for (const path of [override.boot, override.initrd]) if (path !== null) paths.add(path);
  }
  return uid === null || paths.size === 0 ? null : { uid, paths, accounts };
}

/**
 * Opens `spec`'s kernel, initrd and disks for a VM process whose first inherited file will be
 * descriptor `firstFd`. Throws a {@link StartError} naming the file: EPERM when its user may
 * not use it, VMD_DISK_INVALID for a disk that cannot be used.
 */
export async function openVmFiles(
  spec: VmSpec,
  firstFd: number,
  check: FileCheck | null,
): Promise<VmFiles> {
  const held: HeldFile[] = [];
  const close = (): void => {
    for (const file of held.splice(0)) closeSync(file.fd);
  };
  const hold = (path: string, writable: boolean, access: AccessMode | null): HeldFile => {
    let file = held.find((known) => known.path === path && (known.writable || !writable));
    if (file === undefined) {
      file = openRegular(path, writable);
      held.push(file);
    }
    if (access !== null && check !== null) {
      const requester = { uid: check.uid, privileged: false };
      if (checkStatAccess(check.accounts, fstatSync(file.fd), requester, access) !== 0) {
        throw new StartError(ERRNO.EPERM, `no ${access} access to ${path}`);
      }
    }
    return file;
  };
  try {
    for (const path of [spec.boot, spec.initrd]) {
      if (path !== null) hold(path, false, check?.paths.has(path) === true ? 'read' : null);
    }
    for (const disk of spec.disks) {
      // Everything a named disk reaches must be the user's to read, its top image to write.
      const named = check?.paths.has(disk.path) === true;
      // The images open read-only here; the VM process writes the top one.
      const opener: FileOpener = (path) => {
        const top = path === disk.path;
        const access = named ? (top ? 'read-write' : 'read') : null;
        const file = hold(path, top, access);
        return Promise.resolve(descriptorFile(duplicateDescriptor(file.fd)));
      };
      const images = await openDisks([{ ...disk, readOnly: true }], opener);
      await closeDisks(images);
    }
  } catch (error) {
    close();
    throw startError(spec, error);
  }
  const specs = held.map((file, i) => ({
    path: file.path,
    fd: firstFd + i,
    writable: file.writable,
  }));
  return { specs, descriptors: held.map((file) => file.fd), close };
}

/** Opens `path` without waiting on a FIFO or a device, and makes sure it is a regular file. */
function openRegular(path: string, writable: boolean): HeldFile {
  const flags = (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK;
  const fd = openSync(path, flags);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new StartError(ERRNO.EPERM, `${path}: not a regular file`);
  }
  return { path, fd, writable };
}

/** `error` as a start failure of `spec`'s VM, with the code its deepest cause gives. */
function startError(spec: VmSpec, error: unknown): StartError {
  let cause: unknown = error;
  while (cause instanceof Error && !(cause instanceof StartError)) cause = cause.cause;
  const message = `vm "${spec.name}": ${error instanceof Error ? error.message : String(error)}`;
  if (cause instanceof StartError) {
    return new StartError(cause.code, message);
  }
  const code = error instanceof DiskOpenError ? VMD_ERRORS.VMD_DISK_INVALID : errnoOf(error);
  return new StartError(code ?? ERRNO.EIO, message);
}
