/**
 * Valid sample messages, at least one of every type, with the fields at their limits where it
 * matters: the round-trip tests use them, and the fuzz tests mutate them. Also the plain start
 * request the vmd and vmctl tests build theirs from.
 */

import { ERRNO, VMD_ERRORS } from './codes.js';
import type { Message, StartVmParams, VmRef, VmSpec } from './messages.js';

const GiB = 1024 ** 3;

/**
 * A `VmSpec`: VM 1, "test1", 64 MiB and one vCPU, with nothing attached and no files or console
 * from a parent; `changes` win.
 */
export function vmSpec(changes: Partial<VmSpec> = {}): VmSpec {
  return {
    vmId: 1,
    name: 'test1',
    memory: 64 * 1024 * 1024,
    vcpus: 1,
    boot: null,
    bootDevice: null,
    initrd: null,
    cmdline: null,
    cdrom: null,
    disks: [],
    interfaces: [],
    console: null,
    files: null,
    ...changes,
  };
}

/**
 * The parameters of `vmctl start` for `vm` without options: nothing changed from its
 * configuration (or a new VM's defaults); `changes` win.
 */
export function startParams(vm: VmRef, changes: Partial<StartVmParams> = {}): StartVmParams {
  return {
    vm,
    memory: null,
    boot: null,
    bootDevice: null,
    initrd: null,
    cmdline: null,
    cdrom: null,
    disks: [],
    interfaces: [],
    interfaceCount: null,
    template: null,
    ...changes,
  };
}

/** Sample messages covering every message type. */
export const SAMPLE_MESSAGES: readonly Message[] = [
  { type: 'ok' },
  { type: 'fail', error: ERRNO.EPERM, detail: null },
  { type: 'fail', error: VMD_ERRORS.VMD_PARENT_INVALID, detail: 'invalid template "base"' },
  { type: 'verbose', level: 2 },
  { type: 'reset', scope: 'all' },
  { type: 'reset', scope: 'switches' },
  { type: 'start-vm-request', uid: null, ...startParams({ name: 'web1' }) },
  {
    type: 'start-vm-request',
    uid: 1000,
    vm: { name: 'a'.repeat(63) },
    memory: 128 * GiB,
    boot: '/bsd.rd',
    bootDevice: 'net',
    initrd: '/srv/linux/initrd.img',
    cmdline: 'console=ttyS0 quiet',
    cdrom: '/srv/iso/install76.iso',
    disks: [
      { path: '/srv/vm/a.qcow2', format: 'qcow2' },
      { path: '/srv/vm/b.img', format: 'raw' },
      { path: '/srv/vm/c.img', format: 'raw' },
      { path: '/srv/vm/é.img', format: 'raw' },
    ],
    interfaces: [
      { local: true, switch: null },
      { local: false, switch: 'uplink' },
    ],
    interfaceCount: 4,
    template: 'base.template',
  },
  { type: 'start-vm-request', ...startById(7) },
  { type: 'start-vm-response', result: 0, vmId: 1, pid: 4242, tty: '/dev/pts/3' },
  {
    type: 'start-vm-response',
    result: VMD_ERRORS.VMD_DISK_MISSING,
    vmId: null,
    pid: null,
    tty: null,
  },
  { type: 'pause-vm', vm: { id: 0xffffffff }, uid: 0 },
  { type: 'pause-vm-response', result: 0, vmId: 3, pid: 99, tty: null },
  { type: 'unpause-vm', vm: { name: 'web1' }, uid: null },
  { type: 'unpause-vm-response', result: ERRNO.EPERM, vmId: 3, pid: null, tty: null },
  { type: 'wait-vm-request', vm: { id: 2 }, uid: 0xfffffffe },
  { type: 'terminate-vm-request', vm: { name: 'db-2' }, uid: 1000, force: true, wait: false },
  { type: 'terminate-vm-request', vm: { id: 9 }, uid: null, force: false, wait: true },
  {
    type: 'terminate-vm-response',
    result: VMD_ERRORS.VMD_VM_STOP_INVALID,
    vmId: 9,
    pid: null,
    tty: null,
  },
  { type: 'terminate-vm-event', result: ERRNO.EAGAIN, vmId: 9, pid: 0x7fffffff, tty: null },
  { type: 'get-info-vm-request' },
  {
    type: 'get-info-vm-data',
    info: {
      id: 1,
      pid: 4242,
      vcpus: 1,
      maxMemory: 512 * 1024 * 1024,
      curMemory: 37 * 1024 * 1024,
      tty: '/dev/pts/3',
      owner: { uid: 1000, gid: 1000 },
      state: 'running',
      name: 'web1',
    },
  },
  {
    type: 'get-info-vm-data',
    info: {
      id: 2,
      pid: null,
      vcpus: 64,
      maxMemory: Number.MAX_SAFE_INTEGER,
      curMemory: 0,
      tty: null,
      owner: { uid: 0, gid: null },
      state: 'stopped',
      name: 'Z9',
    },
  },
  { type: 'get-info-vm-end-data' },
  { type: 'load', path: '/etc/vm.d/extra.conf' },
  { type: 'reload' },
  { type: 'vm-shutdown' },
  { type: 'vm-reboot' },
  { type: 'console-request', vm: { name: 'web1' }, uid: 1000 },
  { type: 'console-response', result: 0, vmId: 1, pid: 4242, tty: '/run/vmd/web1.console' },
  {
    type: 'create-disk-request',
    uid: 0,
    path: '/srv/vm/new.qcow2',
    format: 'qcow2',
    size: null,
    base: '/srv/vm/base.qcow2',
    input: null,
  },
  {
    type: 'create-disk-request',
    uid: null,
    path: '/srv/vm/copy.img',
    format: 'raw',
    size: 20 * GiB,
    base: null,
    input: '/srv/vm/a.qcow2',
  },
  {
    type: 'vm-create',
    spec: {
      vmId: 5,
      name: 'web1',
      memory: 1024 * 1024,
      vcpus: 1,
      boot: null,
      bootDevice: 'cdrom',
      initrd: null,
      cmdline: null,
      cdrom: '/srv/iso/install76.iso',
      disks: [{ path: '/srv/vm/a.qcow2', format: 'qcow2' }],
      interfaces: [
        { lladdr: 'fe:e1:bb:d1:c8:01', local: true, fd: 4 },
        { lladdr: '00:00:00:00:00:0a', local: false, fd: null },
      ],
      console: { master: 5, slave: 6, path: '/dev/pts/12' },
      files: [
        { path: '/srv/vm/a.qcow2', fd: 7, writable: true },
        { path: '/srv/vm/base.qcow2', fd: 8, writable: false },
      ],
    },
  },
  {
    type: 'vm-create',
    spec: vmSpec({ vmId: 0xffffffff, name: 'b', memory: 128 * GiB, boot: '/bsd' }),
  },
  { type: 'vm-memory', bytes: 37 * 1024 * 1024 },
  { type: 'vm-memory', bytes: 0 },
];

function startById(id: number): Omit<Extract<Message, { type: 'start-vm-request' }>, 'type'> {
  return {
    uid: 0,
    vm: { id },
    memory: 1024 * 1024,
    boot: '/boot/vmlinuz',
    bootDevice: 'disk',
    initrd: '/boot/initrd.img',
    cmdline: 'console=ttyS0',
    cdrom: null,
    disks: [{ path: '/d', format: 'raw' }],
    interfaces: [{ local: false, switch: 'sw0' }],
    interfaceCount: 0,
    template: null,
  };
}
