import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmConfig } from '../config/types.js';
import { accountsFromText, isInGroup } from './accounts.js';
import { ERRNO, VM_STATE } from './codes.js';
import { checkFileAccess, mayControl, ownerAllows } from './permissions.js';
import { startParams } from './message_samples.js';
import { Registry } from './registry.js';
import { configFromRequest } from './vm_spec.js';

const accounts = accountsFromText(
  [
    'root:x:0:0::/root:/bin/sh',
    'joe:x:1000:1000::/home/joe:/bin/sh',
    'ann:x:1001:50::/:/bin/sh',
    'bob:x:1002:1002::/:/bin/sh',
  ].join('\n'),
  ['root:x:0:', 'staff:x:50:', 'vmusers:x:900:joe,bob', 'joe:x:1000:'].join('\n'),
);
const joe = { uid: 1000, privileged: false };
const ann = { uid: 1001, privileged: false };
const bob = { uid: 1002, privileged: false };
const root = { uid: 0, privileged: true };

function config(owner: VmConfig['owner']): VmConfig {
  const base = configFromRequest(
    { name: 'web', ...startParams({ name: 'web' }, { boot: '/k' }) },
    0,
  );
  return { ...base, owner };
}

test('isInGroup(): the primary group or a member list', () => {
  assert.equal(isInGroup(accounts, 1001, 50), true, 'ann is in staff as her primary group');
  assert.equal(isInGroup(accounts, 1000, 900), true, 'joe is listed in vmusers');
  assert.equal(isInGroup(accounts, 1001, 900), false);
  assert.equal(isInGroup(accounts, 4242, 900), false, 'an unknown user is in no group');
});

test('ownerAllows(): root always, the owner, members of the owner group; no owner is root only', () => {
  assert.equal(ownerAllows(accounts, null, root), true);
  assert.equal(ownerAllows(accounts, null, joe), false);
  assert.equal(ownerAllows(accounts, { uid: 1000, gid: null }, joe), true);
  assert.equal(ownerAllows(accounts, { uid: 1000, gid: null }, ann), false);
  assert.equal(ownerAllows(accounts, { uid: 0, gid: 900 }, bob), true, 'bob is in vmusers');
  assert.equal(ownerAllows(accounts, { uid: 0, gid: 900 }, ann), false);
});

test('mayControl(): a stopped VM by its configured owner, a running one by who started it', () => {
  const registry = new Registry();
  const entry = registry.add(config({ uid: 1000, gid: 50 }), true);
  assert.equal(mayControl(accounts, entry, joe), true, 'joe owns it');
  assert.equal(mayControl(accounts, entry, ann), true, 'ann is in its owner group staff');
  assert.equal(mayControl(accounts, entry, bob), false);
  entry.state |= VM_STATE.RUNNING;
  entry.runUid = 1002;
  assert.equal(mayControl(accounts, entry, bob), true, 'bob started it');
  assert.equal(mayControl(accounts, entry, joe), false, 'joe did not start it');
  assert.equal(mayControl(accounts, entry, ann), true, 'the group still may');
  assert.equal(mayControl(accounts, entry, root), true);
  const rootOnly = registry.add({ ...config(null), name: 'other' }, true);
  assert.equal(mayControl(accounts, rootOnly, joe), false);
});

test(
  'checkFileAccess(): regular files by their permission bits, as vm_checkaccess',
  {
    skip: process.geteuid?.() !== 0 && 'needs root to give files away',
  },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmd-perm-'));
    try {
      const file = (name: string, uid: number, gid: number, mode: number): string => {
        const path = join(dir, name);
        writeFileSync(path, 'x');
        chownSync(path, uid, gid);
        chmodSync(path, mode);
        return path;
      };
      const joes = file('joes.img', 1000, 1000, 0o600);
      const staffs = file('staff.img', 0, 50, 0o640);
      const open = file('open.img', 0, 0, 0o644);
      assert.equal(checkFileAccess(accounts, joes, joe, 'read-write'), 0, "joe's own file");
      assert.equal(checkFileAccess(accounts, joes, ann, 'read'), ERRNO.EPERM, "not ann's");
      assert.equal(checkFileAccess(accounts, staffs, ann, 'read'), 0, 'ann reads it through staff');
      assert.equal(
        checkFileAccess(accounts, staffs, ann, 'read-write'),
        ERRNO.EPERM,
        'the group may not write',
      );
      assert.equal(checkFileAccess(accounts, open, bob, 'read'), 0, 'anyone may read it');
      assert.equal(checkFileAccess(accounts, open, bob, 'read-write'), ERRNO.EPERM);
      assert.equal(checkFileAccess(accounts, open, root, 'read-write'), 0, 'root skips the bits');
      assert.equal(checkFileAccess(accounts, join(dir, 'missing.img'), root, 'read'), ERRNO.ENOENT);
      mkdirSync(join(dir, 'sub'));
      assert.equal(
        checkFileAccess(accounts, join(dir, 'sub'), root, 'read'),
        ERRNO.EPERM,
        'not a regular file',
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  },
);
