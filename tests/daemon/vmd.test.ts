/**
 * A real vmd running real VM processes of the test guests, driven over its socket: autostart,
 * status, permissions of a second user, a VM process killed under it, a guest that reboots in
 * a loop until the restart rate limit stops it, pause, load, reload on SIGHUP, and shutdown on
 * SIGTERM.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRNO, VMD_ERRORS } from '../../src/daemon/codes.js';
import type { Message, VmStatus } from '../../src/daemon/messages.js';
import { buildGuest } from '../guests/build_guest.js';
import {
  childrenOf,
  runAs,
  type ClientOutput,
  eventually,
  processExists,
  startRequest,
  TestVmd,
  type Client,
} from './harness.js';

/** The second user: nobody and nogroup on Debian. */
const OTHER = 65534;
const isRoot = process.geteuid?.() === 0;

/** Runs `requests` as {@link OTHER} on one connection. */
function asOther(socket: string, requests: [Message, number][]): Promise<ClientOutput> {
  return runAs(OTHER, socket, requests);
}

/**
 * Stops `name` as {@link OTHER} and waits for its end (`vmctl stop -w`, with `-f` when
 * `force`): the answer and then the event that the VM has stopped.
 */
async function stopAsOther(socket: string, name: string, force: boolean): Promise<void> {
  const stop: Message = {
    type: 'terminate-vm-request',
    vm: { name },
    uid: null,
    force,
    wait: true,
  };
  const out = await asOther(socket, [[stop, 2]]);
  assert.deepEqual(
    out.replies[0]?.map((m) => m.type),
    ['terminate-vm-response', 'terminate-vm-event'],
    `stopping ${name} as user ${OTHER}`,
  );
}

function vmConfig(name: string, kernel: string, extra = ''): string {
  return `vm "${name}" {\n\tmemory 32M\n\tboot "${kernel}"\n${extra}}\n`;
}

async function running(client: Client, name: string): Promise<VmStatus> {
  return eventually(`${name} to run`, async () => {
    const vm = await client.vm(name);
    return vm?.state === 'running' && vm.tty !== null && vm.pid !== null ? vm : undefined;
  });
}

async function stopped(client: Client, name: string): Promise<VmStatus> {
  return eventually(`${name} to stop`, async () => {
    const vm = await client.vm(name);
    return vm?.state === 'stopped' ? vm : undefined;
  });
}

test('vmd runs, lists, restarts and stops VMs', { timeout: 180_000 }, async (t) => {
  const idle = await buildGuest('idle');
  const triple = await buildGuest('triple_fault');
  const config =
    `socket owner :${OTHER}\nstaggered start parallel 4 delay 1\n` +
    vmConfig('idle', idle) +
    vmConfig('mine', idle, `\tdisable\n\towner ${OTHER}\n`) +
    vmConfig('looping', triple, '\tdisable\n') +
    vmConfig('template', idle, `\tdisable\n\tallow instance { memory, owner ${OTHER} }\n`);
  const vmd = await TestVmd.start(config);
  const pids: number[] = [];
  try {
    const client = await vmd.client();

    await t.test(
      'an enabled VM starts by itself; status shows it with its pid and tty',
      async () => {
        const vm = await running(client, 'idle');
        assert.equal(vm.id, 1, 'ids count from 1 in file order');
        assert.match(vm.tty ?? '', /^\/dev\/pts\/\d+$/, 'the console is a pty');
        assert.ok(processExists(vm.pid ?? 0), `VM process ${vm.pid} exists`);
        assert.equal(vm.maxMemory, 32 * 1024 * 1024);
        pids.push(vm.pid ?? 0);
      },
    );

    await t.test('status also lists the stopped VMs of the configuration', async () => {
      const all = await client.status();
      assert.deepEqual(
        all.map((vm) => [vm.id, vm.name, vm.state, vm.pid, vm.tty]),
        [
          [1, 'idle', 'running', pids[0], all[0]?.tty],
          [2, 'mine', 'stopped', null, null],
          [3, 'looping', 'stopped', null, null],
          [4, 'template', 'stopped', null, null],
        ],
      );
      assert.deepEqual(all[1]?.owner, { uid: OTHER, gid: null }, 'the configured owner');
    });

    await t.test(
      'another user may list VMs but not stop one it does not own',
      { skip: !isRoot && 'needs root' },
      async () => {
        const out = await asOther(vmd.socketPath, [
          [{ type: 'get-info-vm-request' }, 1],
          [
            {
              type: 'terminate-vm-request',
              vm: { name: 'idle' },
              uid: 0,
              force: true,
              wait: false,
            },
            1,
          ],
        ]);
        assert.equal(
          out.replies[0]?.length,
          5,
          `four VMs and the end: ${JSON.stringify(out.replies[0])}`,
        );
        assert.deepEqual(out.replies[1], [
          { type: 'terminate-vm-response', result: ERRNO.EPERM, vmId: null, pid: null, tty: null },
        ]);
        assert.equal((await client.vm('idle'))?.state, 'running', 'idle still runs');
      },
    );

    await t.test(
      'another user may not reload: EPERM, and its connection is closed',
      { skip: !isRoot && 'needs root' },
      async () => {
        const out = await asOther(vmd.socketPath, [
          [{ type: 'reload' }, 1],
          [{ type: 'get-info-vm-request' }, 1],
        ]);
        assert.deepEqual(out.replies[0], [
          { type: 'fail', error: ERRNO.EPERM, detail: 'reload is for root only' },
        ]);
        assert.deepEqual(out.replies[1], [], 'nothing more is answered');
        assert.equal(out.open, false, 'the connection is closed');
      },
    );

    await t.test(
      'the owner starts its VM, gets its console, and stops it waiting for the end',
      { skip: !isRoot && 'needs root' },
      async () => {
        const out = await asOther(vmd.socketPath, [
          [startRequest('mine'), 1],
          [{ type: 'console-request', vm: { name: 'mine' }, uid: null }, 1],
        ]);
        const started = out.replies[0]?.[0];
        assert.equal(
          started?.type === 'start-vm-response' && started.result,
          0,
          JSON.stringify(started),
        );
        const tty = started?.type === 'start-vm-response' ? started.tty : null;
        assert.match(tty ?? '', /^\/dev\/pts\/\d+$/);
        assert.deepEqual(out.replies[1]?.[0], { ...started, type: 'console-response' });
        const st = statSync(tty ?? '');
        assert.equal(st.uid, OTHER, 'the console belongs to the user who started the VM');
        assert.equal(st.mode & 0o777, 0o620, 'mode 0620 with group tty');
        const vm = await running(client, 'mine');
        assert.deepEqual(vm.owner, { uid: OTHER, gid: null });
        await stopAsOther(vmd.socketPath, 'mine', false);
        assert.equal((await client.vm('mine'))?.state, 'stopped');
        assert.equal(processExists(vm.pid ?? 0), false, 'the VM process has gone');
      },
    );

    await t.test(
      'a VM process killed with SIGKILL shows as stopped, and the VM starts again',
      async () => {
        const before = await running(client, 'idle');
        process.kill(before.pid ?? 0, 'SIGKILL');
        await stopped(client, 'idle');
        const started = await client.start('idle');
        assert.equal(started.result, 0, JSON.stringify(started));
        const after = await running(client, 'idle');
        assert.equal(after.id, before.id, 'the VM keeps its id');
        assert.notEqual(after.pid, before.pid, 'in a new process');
        pids.push(after.pid ?? 0);
      },
    );

    await t.test('a guest that triple-faults restarts until the rate limit stops it', async () => {
      const waiter = await vmd.client();
      const started = await client.start('looping');
      assert.equal(started.result, 0, JSON.stringify(started));
      const end = await waiter.request({
        type: 'wait-vm-request',
        vm: { name: 'looping' },
        uid: null,
      });
      // Three fast restarts, then the fourth start is refused (config.c's rate limit).
      await vmd.waitForLog(/^vmd: vm "looping" \(id 3\) restarted too quickly$/);
      assert.deepEqual(
        end.map((m) => m.type),
        ['terminate-vm-event'],
        'the waiter hears the end once',
      );
      const restarts = vmd.log.filter((line) =>
        /vm "looping" \(id 3\) rebooted, restarting it/.test(line),
      );
      assert.equal(restarts.length, 3, vmd.log.join('\n'));
      assert.equal((await client.vm('looping'))?.state, 'stopped');
      waiter.close();
    });

    await t.test(
      'two starts of one VM at once: one runs it, the other hears EALREADY',
      async () => {
        const second = await vmd.client();
        const results = await Promise.all([client.start('template'), second.start('template')]);
        assert.deepEqual(
          results.map((r) => r.result).sort((a, b) => a - b),
          [0, ERRNO.EALREADY],
          JSON.stringify(results),
        );
        const vm = await running(client, 'template');
        const processes = childrenOf(vmd.child.pid ?? 0).filter((pid) =>
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('vmd_vm'),
        );
        assert.equal(processes.filter((pid) => pid === vm.pid).length, 1, 'its process runs');
        assert.equal(
          processes.length,
          2,
          `one process for idle and one for template: ${processes.join(' ')}`,
        );
        const stop = await second.request(
          {
            type: 'terminate-vm-request',
            vm: { name: 'template' },
            uid: null,
            force: true,
            wait: true,
          },
          2,
        );
        assert.deepEqual(
          stop.map((m) => m.type),
          ['terminate-vm-response', 'terminate-vm-event'],
        );
        second.close();
      },
    );

    await t.test('pause and unpause: the state follows', async () => {
      const paused = await client.ask({ type: 'pause-vm', vm: { name: 'idle' }, uid: null });
      assert.equal(paused.type === 'pause-vm-response' && paused.result, 0, JSON.stringify(paused));
      assert.equal((await client.vm('idle'))?.state, 'paused');
      const resumed = await client.ask({ type: 'unpause-vm', vm: { id: 1 }, uid: null });
      assert.equal(
        resumed.type === 'unpause-vm-response' && resumed.result,
        0,
        JSON.stringify(resumed),
      );
      assert.equal((await client.vm('idle'))?.state, 'running');
    });

    await t.test(
      'another user makes an instance of a template that allows it; it is forgotten when it stops',
      { skip: !isRoot && 'needs root' },
      async () => {
        const instance = (name: string, change: Partial<Message>): Message =>
          ({ ...startRequest(name), template: 'template', ...change }) as Message;
        const out = await asOther(vmd.socketPath, [
          [instance('other-kernel', { boot: triple }), 1],
          [instance('copy', { memory: 48 * 1024 * 1024 }), 1],
        ]);
        const refused = out.replies[0]?.[0];
        assert.equal(
          refused?.type === 'start-vm-response' && refused.result,
          ERRNO.EPERM,
          'boot is not allowed',
        );
        const started = out.replies[1]?.[0];
        assert.equal(
          started?.type === 'start-vm-response' && started.result,
          0,
          JSON.stringify(started),
        );
        const copy = await running(client, 'copy');
        assert.equal(copy.maxMemory, 48 * 1024 * 1024);
        assert.deepEqual(copy.owner, { uid: OTHER, gid: null }, 'the instance is its maker’s');
        await stopAsOther(vmd.socketPath, 'copy', true);
        assert.equal(
          await client.vm('copy'),
          undefined,
          'a VM vmctl made is forgotten when it stops',
        );
        assert.equal(await client.vm('other-kernel'), undefined, 'nor is a refused one kept');
      },
    );

    await t.test('errors come with vmd codes', async () => {
      const unknown = await client.ask({ type: 'pause-vm', vm: { name: 'nosuch' }, uid: null });
      assert.deepEqual(unknown, {
        type: 'pause-vm-response',
        result: ERRNO.ENOENT,
        vmId: null,
        pid: null,
        tty: null,
      });
      const notRunning = await client.ask({
        type: 'terminate-vm-request',
        vm: { id: 2 },
        uid: null,
        force: false,
        wait: false,
      });
      assert.equal(
        notRunning.type === 'terminate-vm-response' && notRunning.result,
        VMD_ERRORS.VMD_VM_STOP_INVALID,
      );
      const twice = await client.start('idle');
      assert.equal(twice.result, ERRNO.EALREADY);
      const template = await client.ask({ ...startRequest('new'), template: 'nosuch' } as Message);
      assert.equal(
        template.type === 'start-vm-response' && template.result,
        VMD_ERRORS.VMD_PARENT_INVALID,
      );
    });

    await t.test('load adds the VMs of another file; one with errors changes nothing', async () => {
      const extra = join(vmd.dir, 'extra.conf');
      writeFileSync(extra, vmConfig('loaded', idle, '\tdisable\n'));
      assert.deepEqual(await client.ask({ type: 'load', path: extra }), { type: 'ok' });
      assert.equal((await client.vm('loaded'))?.state, 'stopped');
      writeFileSync(extra, 'vm "broken" {\n\tmemory lots\n}\n');
      const refused = await client.ask({ type: 'load', path: extra });
      assert.deepEqual(refused, {
        type: 'fail',
        error: ERRNO.EINVAL,
        detail: `${extra}:2: failed to parse size: lots: invalid memory size`,
      });
      assert.equal(await client.vm('broken'), undefined);
    });

    await t.test(
      'SIGHUP reloads: a VM written into the configuration is added and started',
      async () => {
        appendFileSync(vmd.configPath, vmConfig('added', idle));
        vmd.child.kill('SIGHUP');
        const vm = await running(client, 'added');
        assert.equal(vm.id, 7, 'ids count on: the instance took 5, the loaded VM 6');
        assert.equal((await client.vm('idle'))?.pid, pids.at(-1), 'a running VM keeps running');
        pids.push(vm.pid ?? 0);
      },
    );

    await t.test('a control process that dies is started again, and serves', async () => {
      // By its program: a VM process still being reaped would also be a child not in `pids`.
      const before = childrenOf(vmd.child.pid ?? 0).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('control_main');
        } catch {
          return false;
        }
      });
      assert.equal(before.length, 1, `one control process: ${before.join(' ')}`);
      process.kill(before[0] ?? 0, 'SIGKILL');
      await vmd.waitForLog(/^vmd: control process exited \(status signal\), starting it again$/);
      const fresh = await eventually('a new connection to be served', async () => {
        try {
          const again = await vmd.client();
          const vms = await again.status();
          again.close();
          return vms;
        } catch {
          return undefined;
        }
      });
      assert.equal(fresh.find((vm) => vm.name === 'idle')?.state, 'running', 'the VMs ran on');
    });

    client.close();
    await t.test('SIGTERM stops every VM, and vmd exits 0 leaving no process behind', async () => {
      const children = childrenOf(vmd.child.pid ?? 0);
      assert.ok(
        children.length >= 3,
        `the control process and two VM processes: ${children.join(' ')}`,
      );
      vmd.child.kill('SIGTERM');
      assert.equal(await vmd.exited, 0, vmd.log.join('\n'));
      for (const pid of [...pids, ...children]) {
        assert.equal(processExists(pid), false, `process ${pid} has gone`);
      }
      assert.equal(existsSync(vmd.socketPath), false, 'the socket is removed');
    });
  } finally {
    const status = await vmd.stop();
    if (status !== 0) t.diagnostic(vmd.log.join('\n'));
  }
});
