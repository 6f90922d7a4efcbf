/**
 * The messages between vmctl, the control process, the vmd parent and the VM processes,
 * after vmd's imsg types (vmd.h, proc.h): one discriminated union tagged by `type`. Each
 * travels in one frame (frame.ts) whose type number is vmd's where vmd has the message; the
 * payload is the message's other fields as a JSON object (codec.ts).
 *
 * Conventions: sizes are bytes, paths are absolute, a missing value is `null` (never an
 * absent field), and every field is always present.
 *
 * Directions, as in vmd: vmctl sends requests to the control process, which passes them to
 * the parent with `uid` set to the client's uid (from the socket's credentials; whatever the
 * client wrote is replaced); replies and events travel back with the request's frame id. The
 * parent talks to each VM process with the `vm-*` messages, pause/unpause and `verbose`.
 */

import type { BootDevice, DiskConfig, DiskFormat, Owner } from '../config/types.js';
import type { VmStateName } from './codes.js';

/** A VM named by its vmd id or by its name, as vmctl's `id` argument (vmd's `vmop_id`). */
export type VmRef = { id: number } | { name: string };

/** One network interface of `vmctl start`: `-L` (local) or `-n switch`. */
export interface StartInterface {
  /** A local interface: vmd gives it an address and answers DHCP on it. */
  local: boolean;
  /** The switch it joins, or null. */
  switch: string | null;
}

/** What `vmctl start` asks for (vmd's `vmop_create_params` as vmctl fills it). */
export interface StartVmParams {
  /** The VM: an existing one (by id or name) is restarted, a new name is created. */
  vm: VmRef;
  /** RAM (`-m`), or null for the configured size (512 MiB for a new VM). */
  memory: number | null;
  /** Kernel or BIOS image (`-b`), or null for the configured one. */
  boot: string | null;
  /** The boot device for this boot (`-B`), or null. */
  bootDevice: BootDevice | null;
  /** Linux: the initrd (`-I`), or null for the configured one. */
  initrd: string | null;
  /** Linux: the kernel command line (`-C`), or null for the configured one. */
  cmdline: string | null;
  /** ISO image (`-r`), or null. */
  cdrom: string | null;
  /** Disk images (`-d`), at most four. */
  disks: DiskConfig[];
  /** Interfaces in order (`-L` first, then each `-n`), at most four. */
  interfaces: StartInterface[];
  /** The total number of interfaces (`-i`), or null; extra ones are plain taps. */
  interfaceCount: number | null;
  /** The template VM (`-t`), or null. */
  template: string | null;
}

/**
 * The outcome of a request about one VM (vmd's `vmop_result`). `result` is 0 on success,
 * else one of vmd's codes or an errno value (codes.ts); for `terminate-vm-event` it is the
 * VM's exit status (EAGAIN: the guest rebooted).
 */
export interface VmResult {
  /** 0, a vmd code or an errno value. */
  result: number;
  /** The VM's vmd id, or null when the request failed before one was known. */
  vmId: number | null;
  /** The VM process's pid, or null. */
  pid: number | null;
  /** The VM's console (a pty or console socket path), or null. */
  tty: string | null;
}

/**
 * One VM in `vmctl status` (vmd's `vmop_info_result`), with OpenBSD's columns:
 * ID PID VCPUS MAXMEM CURMEM TTY OWNER STATE NAME.
 */
export interface VmStatus {
  /** ID: the vmd id. */
  id: number;
  /** PID: the VM process, or null when the VM is not running. */
  pid: number | null;
  /** VCPUS. */
  vcpus: number;
  /** MAXMEM: the configured RAM. */
  maxMemory: number;
  /** CURMEM: the RAM the guest has touched (0 when not running). */
  curMemory: number;
  /** TTY: the console, or null when not running. */
  tty: string | null;
  /** OWNER: the user who started it, else the configured owner (gid null for none). */
  owner: Owner;
  /** STATE. */
  state: VmStateName;
  /** NAME. */
  name: string;
}

/**
 * A file the parent opened for a VM process (vmd's parent opens a VM's kernel, initrd and
 * disks, backing files included, and passes the descriptors): the VM process reads and writes
 * the file by the path only through this descriptor.
 */
export interface VmFileSpec {
  /** The path the parent opened (a backing file's as its overlay names it, resolved). */
  path: string;
  /** The descriptor the VM process inherited for it. */
  fd: number;
  /** Opened for writing too: a disk that is not read-only. */
  writable: boolean;
}

/** A network interface of a VM process. */
export interface VmNicSpec {
  /** The guest's MAC address, `xx:xx:xx:xx:xx:xx` in lowercase. */
  lladdr: string;
  /** A local interface (vmd answers DHCP on it). */
  local: boolean;
  /** The descriptor of the tap device the VM process inherited, or null for no host side. */
  fd: number | null;
}

/**
 * The VM's console as the parent holds it (vmd.c's vm_opentty): a pty that belongs to the VM,
 * not to one VM process, so that it survives the guest's reboots. The VM process inherits
 * both ends; it keeps the slave open too, so that the master never reads a hang-up (EIO)
 * while no client is attached.
 */
export interface VmConsoleSpec {
  /** The descriptor of the pty's master the VM process inherited. */
  master: number;
  /** The descriptor of the pty's slave the VM process inherited. */
  slave: number;
  /** The slave's path (`/dev/pts/N`): what clients open, and the TTY vmctl shows. */
  path: string;
}

/** What a VM process builds (vmd's `struct vmd_vm` as the VM process reads it). */
export interface VmSpec {
  /** The vmd id. */
  vmId: number;
  /** The VM's name. */
  name: string;
  /** RAM. */
  memory: number;
  /** Virtual CPUs. */
  vcpus: number;
  /** Kernel or BIOS image, or null for the default BIOS. */
  boot: string | null;
  /** Forced boot device, or null. */
  bootDevice: BootDevice | null;
  /** Linux: the initrd loaded with the kernel in `boot`, or null. */
  initrd: string | null;
  /** Linux: the kernel command line, or null. A kernel with an initrd or a command line boots as Linux. */
  cmdline: string | null;
  /** ISO image, or null. */
  cdrom: string | null;
  /** Disks, at most four. */
  disks: DiskConfig[];
  /** Interfaces, at most four. */
  interfaces: VmNicSpec[];
  /** The console the parent opened, or null for the VM process to open a pty of its own. */
  console: VmConsoleSpec | null;
  /**
   * The files of `boot`, `initrd` and `disks` the parent opened, or null for the VM process to
   * open the paths itself.
   */
  files: VmFileSpec[] | null;
}

/** `vmctl reset`'s scope (vmd's CONFIG_ALL, CONFIG_VMS, CONFIG_SWITCHES). */
export type ResetScope = 'all' | 'vms' | 'switches';

/** Fields every request about a VM carries. */
interface VmRequest {
  /** The VM. */
  vm: VmRef;
  /** The client's uid, set by the control process; null from the client. */
  uid: number | null;
}

/** The messages, by `type`. */
export type Message =
  // proc.h's common messages.
  /** IMSG_CTL_OK: a request without a result of its own succeeded. */
  | { type: 'ok' }
  /** IMSG_CTL_FAIL: a request failed; `error` is a vmd code or errno value. */
  | { type: 'fail'; error: number; detail: string | null }
  /** IMSG_CTL_VERBOSE: `vmctl log brief|verbose` (0 or 2), passed to every process. */
  | { type: 'verbose'; level: number }
  /** IMSG_CTL_RESET: `vmctl reset` (root only). */
  | { type: 'reset'; scope: ResetScope }
  // vmd's operations.
  /** IMSG_VMDOP_START_VM_REQUEST: `vmctl start`; answered by `start-vm-response`. */
  | ({ type: 'start-vm-request'; uid: number | null } & StartVmParams)
  /** IMSG_VMDOP_START_VM_RESPONSE: from a VM process when it runs, then to vmctl. */
  | ({ type: 'start-vm-response' } & VmResult)
  /** IMSG_VMDOP_PAUSE_VM: `vmctl pause`, on to the VM process. */
  | ({ type: 'pause-vm' } & VmRequest)
  /** IMSG_VMDOP_PAUSE_VM_RESPONSE. */
  | ({ type: 'pause-vm-response' } & VmResult)
  /** IMSG_VMDOP_UNPAUSE_VM: `vmctl unpause`, on to the VM process. */
  | ({ type: 'unpause-vm' } & VmRequest)
  /** IMSG_VMDOP_UNPAUSE_VM_RESPONSE. */
  | ({ type: 'unpause-vm-response' } & VmResult)
  /** IMSG_VMDOP_WAIT_VM_REQUEST: `vmctl wait`; answered by `terminate-vm-event`. */
  | ({ type: 'wait-vm-request' } & VmRequest)
  /** IMSG_VMDOP_TERMINATE_VM_REQUEST: `vmctl stop [-f] [-w]`. */
  | ({ type: 'terminate-vm-request'; force: boolean; wait: boolean } & VmRequest)
  /** IMSG_VMDOP_TERMINATE_VM_RESPONSE: the stop was requested (or refused). */
  | ({ type: 'terminate-vm-response' } & VmResult)
  /** IMSG_VMDOP_TERMINATE_VM_EVENT: a VM stopped; to the parent and to waiting clients. */
  | ({ type: 'terminate-vm-event' } & VmResult)
  /** IMSG_VMDOP_GET_INFO_VM_REQUEST: `vmctl status`; one `-data` per VM, then `-end-data`. */
  | { type: 'get-info-vm-request' }
  /** IMSG_VMDOP_GET_INFO_VM_DATA: one VM. */
  | { type: 'get-info-vm-data'; info: VmStatus }
  /** IMSG_VMDOP_GET_INFO_VM_END_DATA: the list is complete. */
  | { type: 'get-info-vm-end-data' }
  /** IMSG_VMDOP_LOAD: `vmctl load file` (root only). */
  | { type: 'load'; path: string }
  /** IMSG_VMDOP_RELOAD: `vmctl reload` (root only). */
  | { type: 'reload' }
  /** IMSG_VMDOP_VM_SHUTDOWN: parent to VM process, ask the guest to shut down. */
  | { type: 'vm-shutdown' }
  /** IMSG_VMDOP_VM_REBOOT: VM process to parent, the guest reset itself. */
  | { type: 'vm-reboot' }
  // This port's own.
  /** `vmctl console` and `start -c`: where the console is, after a permission check. */
  | ({ type: 'console-request' } & VmRequest)
  /** The console's path in `tty`. */
  | ({ type: 'console-response' } & VmResult)
  /** `vmctl create` done by the daemon (root only); answered by `ok` or `fail`. */
  | {
      type: 'create-disk-request';
      uid: number | null;
      path: string;
      format: DiskFormat;
      size: number | null;
      base: string | null;
      input: string | null;
    }
  /** Parent to a new VM process: build and run this VM; answered by `start-vm-response`. */
  | { type: 'vm-create'; spec: VmSpec }
  /**
   * VM process to parent, from time to time while the guest runs: the guest RAM the process
   * has resident (CURMEM, vmd's `vir_used_size`), in bytes.
   */
  | { type: 'vm-memory'; bytes: number };

/** A message's type tag. */
export type MessageType = Message['type'];

/** The message with the tag `T`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/**
 * The frame type numbers: vmd's imsg numbers where vmd has the message (proc.h's 0–3, then
 * vmd.h's enum from 4), this port's own from 64.
 */
export const MESSAGE_CODES: { readonly [K in MessageType]: number } = {
  ok: 0,
  fail: 1,
  verbose: 2,
  reset: 3,
  'start-vm-request': 4,
  'start-vm-response': 9,
  'pause-vm': 10,
  'pause-vm-response': 11,
  'unpause-vm': 12,
  'unpause-vm-response': 13,
  'wait-vm-request': 14,
  'terminate-vm-request': 15,
  'terminate-vm-response': 16,
  'terminate-vm-event': 17,
  'get-info-vm-request': 18,
  'get-info-vm-data': 19,
  'get-info-vm-end-data': 20,
  load: 21,
  reload: 24,
  'vm-shutdown': 36,
  'vm-reboot': 37,
  'console-request': 64,
  'console-response': 65,
  'create-disk-request': 66,
  'vm-create': 67,
  'vm-memory': 68,
};

/** Every message type, in code order. */
export const MESSAGE_TYPES: readonly MessageType[] = (
  Object.keys(MESSAGE_CODES) as MessageType[]
).sort((a, b) => MESSAGE_CODES[a] - MESSAGE_CODES[b]);

const TYPES_BY_CODE: ReadonlyMap<number, MessageType> = new Map(
  MESSAGE_TYPES.map((type) => [MESSAGE_CODES[type], type]),
);

/** The message type with frame type number `code`, or undefined. */
export function messageTypeOf(code: number): MessageType | undefined {
  return TYPES_BY_CODE.get(code);
}

/** What vmctl may send to the control process. */
export const CLIENT_REQUESTS: ReadonlySet<MessageType> = new Set<MessageType>([
  'verbose',
  'reset',
  'start-vm-request',
  'pause-vm',
  'unpause-vm',
  'wait-vm-request',
  'terminate-vm-request',
  'get-info-vm-request',
  'load',
  'reload',
  'console-request',
  'create-disk-request',
]);

/**
 * The requests a client other than root may send (control.c); the parent then checks the VM's
 * owner (`vm_checkperm`). Anything else from such a client gets `fail` with EPERM and the
 * connection is closed.
 */
export const UNPRIVILEGED_REQUESTS: ReadonlySet<MessageType> = new Set<MessageType>([
  'get-info-vm-request',
  'wait-vm-request',
  'terminate-vm-request',
  'start-vm-request',
  'pause-vm',
  'unpause-vm',
  'console-request',
]);
