/**
 * A VM's console belongs to the VM in the vmd parent, as vmd.c's vm_opentty keeps it: a guest
 * that reboots runs on in a new VM process on the same pty, and a client attached before the
 * reboot reads what the guest writes after it; a VM stopped for good, or one that restarts too
 * quickly, releases its pty. And CURMEM: a running guest shows the guest memory it uses.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, readlinkSync, readSync, writeSync } from 'node:fs';
import type { VmStatus } from '../../src/daemon/messages.js';
import { openClient, readUntil } from '../../src/sys/testing.js';
import { buildGuest } from '../guests/build_guest.js';
import { eventually, type Client, TestVmd } from './harness.js';

const BANNER = 'press a key to reboot\n';

/** The pty slaves (`/dev/pts/N`) vmd's parent process holds open, from /proc. */
function ptysHeld(vmd: TestVmd): string[] {
  const dir = `/proc/${vmd.child.pid ?? 0}/fd`;
  const held: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      const target = readlinkSync(`${dir}/${fd}`);
      if (/^\/dev\/pts\/\d+$/.test(target)) held.push(target);
    } catch {
      // Closed while the directory was read.
    }
  }
  return held;
}

async function runningVm(client: Client, name: string, notPid?: number): Promise<VmStatus> {
  return eventually(`${name} to run`, async () => {
    const vm = await client.vm(name);
    const fresh = vm?.pid !== null && vm?.pid !== notPid;
    return vm?.state === 'running' && vm.tty !== null && fresh ? vm : undefined;
  });
}

async function stoppedVm(client: Client, name: string): Promise<VmStatus> {
  return eventually(`${name} to stop`, async () => {
    const vm = await client.vm(name);
    return vm?.state === 'stopped' ? vm : undefined;
  });
}

test('a VM keeps its console across reboots and releases it when it stops', async (t) => {
  const keyReboot = await buildGuest('key_reboot');
  const triple = await buildGuest('triple_fault');
  const vmd = await TestVmd.start(
    `vm "rebooter" {\n\tmemory 32M\n\tboot "${keyReboot}"\n}\n` +
      `vm "looping" {\n\tdisable\n\tmemory 32M\n\tboot "${triple}"\n}\n`,
  );
  /** Clients of consoles the test opened, closed at the end. */
  const attached: number[] = [];
  try {
    const client = await vmd.client();

    await t.test('a client attached before a reboot reads the guest after it', async () => {
      const before = await runningVm(client, 'rebooter');
      const tty = before.tty ?? '';
      assert.deepEqual(ptysHeld(vmd), [tty], 'vmd itself holds the console');
      const console = openClient(tty);
      attached.push(console);
      await readUntil(console, (r) => r.toString().endsWith(BANNER), 'the first boot');
      writeSync(console, 'x');
      await vmd.waitForLog(/vm "rebooter" \(id 1\) rebooted, restarting it$/);
      // Read while the guest reboots: a hang-up would be an EOF here, and fail the read.
      const again = await readUntil(console, (r) => r.toString().endsWith(BANNER), 'a reboot');
      assert.equal(again.toString(), BANNER, 'the new VM process writes to the same pty');
      const after = await runningVm(client, 'rebooter', before.pid ?? 0);
      assert.equal(after.tty, tty, 'the same console in status after the reboot');
      assert.notEqual(after.pid, before.pid, 'in a new VM process');
      assert.deepEqual(ptysHeld(vmd), [tty], 'one console still, not a second one');
    });

    await t.test('a running guest shows the memory it uses: 0 < CURMEM <= MAXMEM', async () => {
      const vm = await eventually('a memory report', async () => {
        const status = await client.vm('rebooter');
        return status !== undefined && status.curMemory > 0 ? status : undefined;
      });
      assert.ok(
        vm.curMemory <= vm.maxMemory && vm.curMemory < 1024 * 1024,
        `expected a tiny guest to use a little of its ${vm.maxMemory} bytes: ${vm.curMemory}`,
      );
    });

    await t.test('a VM stopped for good releases its console, hanging up its client', async () => {
      const stop = await client.ask({
        type: 'terminate-vm-request',
        vm: { name: 'rebooter' },
        uid: null,
        force: true,
        wait: false,
      });
      assert.equal(stop.type === 'terminate-vm-response' && stop.result, 0, JSON.stringify(stop));
      const vm = await stoppedVm(client, 'rebooter');
      assert.equal(vm.curMemory, 0, 'a stopped VM uses no memory');
      assert.deepEqual(ptysHeld(vmd), [], 'vmd holds no console');
      const console = attached[0];
      assert.ok(console !== undefined, 'a client attached to the console before');
      // EOF rather than EAGAIN: the pty's master has gone.
      assert.equal(readSync(console, Buffer.alloc(64)), 0, 'the client is hung up');
    });

    await t.test('a VM that restarts too quickly releases its console', async () => {
      const started = await client.start('looping');
      assert.equal(started.result, 0, JSON.stringify(started));
      await vmd.waitForLog(/vm "looping" \(id 2\) restarted too quickly$/);
      await stoppedVm(client, 'looping');
      assert.deepEqual(ptysHeld(vmd), [], 'vmd holds no console');
    });
    client.close();
  } finally {
    for (const fd of attached) closeSync(fd);
    const status = await vmd.stop();
    if (status !== 0) t.diagnostic(vmd.log.join('\n'));
  }
});
