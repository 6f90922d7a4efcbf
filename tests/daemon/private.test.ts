/**
 * A private vmd (vmd(8) "A private vmd"): run by a user other than root, it listens on a
 * socket of that user's with mode 0600, its VMs run as that user, and that user may send it
 * every request, root's included: reload, load and reset.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '../../src/daemon/messages.js';
import { buildGuest } from '../guests/build_guest.js';
import { eventually, processExists, runAs, TestVmd } from './harness.js';

/** The user of the private vmd: nobody on Debian. */
const USER = 65534;

function vm(name: string, kernel: string): string {
  return `vm "${name}" {\n\tmemory 32M\n\tboot "${kernel}"\n}\n`;
}

const status: Message = { type: 'get-info-vm-request' };

/** The names in the replies to a status request. */
function names(replies: Message[] | undefined): string[] {
  return (replies ?? []).flatMap((m) => (m.type === 'get-info-vm-data' ? [m.info.name] : []));
}

test(
  'a private vmd: its user may do everything, and its VMs are its user’s',
  {
    skip: process.geteuid?.() !== 0 && 'needs root to run vmd as another user',
    timeout: 60_000,
  },
  async () => {
    const kernel = await buildGuest('idle');
    const vmd = await TestVmd.start(vm('mine', kernel), { user: USER });
    try {
      const socket = statSync(vmd.socketPath);
      assert.equal(socket.uid, USER, 'the socket is its user’s');
      assert.equal(socket.mode & 0o777, 0o600, 'and no one else’s');
      const extra = join(vmd.dir, 'extra.conf');
      writeFileSync(extra, vm('extra', kernel).replace('}', '\tdisable\n}'));
      const running = await eventually('mine to run', async () => {
        const out = await runAs(USER, vmd.socketPath, [[status, 1]]);
        const info = out.replies[0]?.find((m) => m.type === 'get-info-vm-data');
        return info?.type === 'get-info-vm-data' && info.info.pid !== null ? info.info : undefined;
      });
      assert.deepEqual(running.owner, { uid: 0, gid: null }, 'as vm.conf says: no owner');
      const pid = running.pid ?? 0;
      assert.equal(statSync(`/proc/${pid}`).uid, USER, 'the VM process runs as the user');
      const out = await runAs(USER, vmd.socketPath, [
        [{ type: 'load', path: extra }, 1],
        [status, 1],
        [{ type: 'reset', scope: 'vms' }, 1],
        [status, 1],
      ]);
      assert.deepEqual(out.replies[0], [{ type: 'ok' }], 'load is allowed');
      assert.deepEqual(names(out.replies[1]), ['mine', 'extra']);
      assert.deepEqual(out.replies[2], [{ type: 'ok' }], 'reset is allowed');
      assert.deepEqual(names(out.replies[3]), [], 'reset vms forgets every VM');
      await eventually('the VM process to end', () => (processExists(pid) ? undefined : true));
    } finally {
      assert.equal(await vmd.stop(), 0, vmd.log.join('\n'));
    }
  },
);
