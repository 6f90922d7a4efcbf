import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VmStatus } from '../daemon/messages.js';
import {
  formatStatusJson,
  formatStatusTable,
  ownerText,
  selectVms,
  ttyText,
  type OwnerNames,
} from './status.js';

const M = 1024 * 1024;
const names: OwnerNames = {
  user: (uid) => ({ 0: 'root', 1000: 'joe' })[uid],
  group: (gid) => ({ 0: 'root', 100: 'users' })[gid],
};

const VMS: VmStatus[] = [
  {
    id: 1,
    pid: 4242,
    vcpus: 1,
    maxMemory: 512 * M,
    curMemory: 12 * M + 512 * 1024,
    tty: '/dev/pts/3',
    owner: { uid: 0, gid: null },
    state: 'running',
    name: 'web',
  },
  {
    id: 2,
    pid: null,
    vcpus: 1,
    maxMemory: 1024 * M,
    curMemory: 0,
    tty: null,
    owner: { uid: 1000, gid: 100 },
    state: 'stopped',
    name: 'db.example.com',
  },
  {
    id: 13,
    pid: 31337,
    vcpus: 1,
    maxMemory: 64 * M,
    curMemory: 64 * M,
    tty: '/run/vmd/ttys/build.sock',
    owner: { uid: 1001, gid: 4242 },
    state: 'paused',
    name: 'build',
  },
];

test('status prints OpenBSD vmctl\'s table: header, widths, fmt_scaled sizes, "-" when stopped', () => {
  assert.equal(
    formatStatusTable(VMS, names),
    [
      '   ID   PID VCPUS  MAXMEM  CURMEM     TTY        OWNER    STATE NAME',
      '    1  4242     1    512M   12.5M   pts/3         root  running web',
      '    2     -     1    1.0G       -       -    joe:users  stopped db.example.com',
      '   13 31337     1   64.0M   64.0M build.sock    1001:4242   paused build',
      '',
    ].join('\n'),
  );
  assert.equal(
    formatStatusTable([], names),
    '   ID   PID VCPUS  MAXMEM  CURMEM     TTY        OWNER    STATE NAME\n',
  );
});

test('status -j prints an array with the columns as lowercase keys, bytes and nulls', () => {
  const parsed: unknown = JSON.parse(formatStatusJson(VMS.slice(0, 2), names));
  assert.deepEqual(parsed, [
    {
      id: 1,
      pid: 4242,
      vcpus: 1,
      maxmem: 512 * M,
      curmem: 12 * M + 512 * 1024,
      tty: '/dev/pts/3',
      owner: 'root',
      state: 'running',
      name: 'web',
    },
    {
      id: 2,
      pid: null,
      vcpus: 1,
      maxmem: 1024 * M,
      curmem: null,
      tty: null,
      owner: 'joe:users',
      state: 'stopped',
      name: 'db.example.com',
    },
  ]);
  assert.equal(formatStatusJson([], names), '[]\n');
});

test('status selects by id or name, and -r keeps the running VMs', () => {
  const ids = (list: VmStatus[]): number[] => list.map((vm) => vm.id);
  assert.deepEqual(ids(selectVms(VMS, { vm: null, runningOnly: false })), [1, 2, 13]);
  assert.deepEqual(ids(selectVms(VMS, { vm: null, runningOnly: true })), [1, 13]);
  assert.deepEqual(ids(selectVms(VMS, { vm: { id: 13 }, runningOnly: false })), [13]);
  assert.deepEqual(
    ids(selectVms(VMS, { vm: { name: 'db.example.com' }, runningOnly: false })),
    [2],
  );
  assert.deepEqual(ids(selectVms(VMS, { vm: { name: 'db.example.com' }, runningOnly: true })), []);
  assert.deepEqual(ids(selectVms(VMS, { vm: { id: 99 }, runningOnly: false })), []);
});

test('the OWNER and TTY columns', () => {
  assert.equal(ownerText({ uid: 1000, gid: null }, names), 'joe');
  assert.equal(ownerText({ uid: 0, gid: 100 }, names), 'root:users');
  assert.equal(ownerText({ uid: 5000, gid: 5001 }, names), '5000:5001');
  assert.equal(ttyText('/dev/pts/12'), 'pts/12');
  assert.equal(ttyText('/dev/ttyS0'), 'ttyS0');
  assert.equal(ttyText(null), '-');
});
