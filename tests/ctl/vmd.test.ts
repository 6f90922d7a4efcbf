/**
 * vmctl against a real vmd (`vmd -d -f vm.conf` on a temporary socket) running tiny test
 * guests: the console_echo guest, which stays up and echoes what it receives on COM1, started
 * by name from vm.conf and as new VMs with `-b`. Every command of vmctl that talks to vmd is
 * used, and its output and exit status checked.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusJson } from '../../src/ctl/status.js';
import { buildGuest, REPO_ROOT } from '../guests/build_guest.js';
import { runVmctl, startVmctl, type VmctlRun } from './vmctl_helpers.js';

const VMD = join(REPO_ROOT, 'dist/src/bin/vmd.js');

/** Resolves after `ms` milliseconds (for polling, never for an assertion). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True while process `pid` exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('vmctl drives a real vmd: start, status, console, pause, stop, wait, load, reload, reset, log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vmctl-vmd-'));
  const echo = await buildGuest('console_echo');
  const socket = join(dir, 'vmd.sock');
  writeFileSync(
    join(dir, 'vm.conf'),
    `vm "echo" {\n  disable\n  memory 64M\n  boot "${echo}"\n}\n`,
  );
  writeFileSync(
    join(dir, 'extra.conf'),
    `vm "extra" {\n  disable\n  memory 32M\n  boot "${echo}"\n}\n`,
  );
  const vmd = spawn(process.execPath, [VMD, '-d', '-f', join(dir, 'vm.conf')], {
    env: { ...process.env, VMD_SOCKET: socket },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  vmd.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
  const vmdExited = new Promise<number | null>((resolve) => vmd.on('close', resolve));
  const pids = new Set<number>();
  t.after(async () => {
    vmd.kill('SIGTERM');
    await vmdExited;
    await rm(dir, { recursive: true, force: true });
  });

  // Waits for vmd's socket, giving up if vmd exits first.
  let exited = false;
  void vmdExited.then(() => (exited = true));
  while (!existsSync(socket)) {
    assert.ok(!exited, `vmd exited before it listened:\n${log}`);
    await pause(50);
  }

  const vmctl = (...args: string[]): Promise<VmctlRun> => runVmctl(args, { socket, cwd: dir });
  const explain = (r: VmctlRun): string =>
    `status ${r.status}\n${r.stderr}${r.stdout}\nvmd:\n${log}`;
  const status = async (...args: string[]): Promise<StatusJson[]> => {
    const r = await vmctl('status', '-j', ...args);
    const list = JSON.parse(r.stdout) as StatusJson[];
    for (const vm of list) if (vm.pid !== null) pids.add(vm.pid);
    return list;
  };
  /** Checks a run's exit status and standard error. */
  const expect = (r: VmctlRun, code: number, stderr: string | RegExp): void => {
    assert.equal(r.status, code, explain(r));
    if (typeof stderr === 'string') assert.equal(r.stderr, stderr, explain(r));
    else assert.match(r.stderr, stderr, explain(r));
  };

  await t.test('status lists the VM of vm.conf, stopped', async () => {
    const r = await vmctl('status');
    expect(r, 0, '');
    assert.equal(
      r.stdout,
      '   ID   PID VCPUS  MAXMEM  CURMEM     TTY        OWNER    STATE NAME\n' +
        '    1     -     1   64.0M       -       -         root  stopped echo\n',
    );
    assert.deepEqual(await status(), [
      {
        id: 1,
        pid: null,
        vcpus: 1,
        maxmem: 64 << 20,
        curmem: null,
        tty: null,
        owner: 'root',
        state: 'stopped',
        name: 'echo',
      },
    ]);
    expect(await vmctl('status', '-r'), 1, '');
    expect(await vmctl('console', 'echo'), 1, 'vmctl: console not found\n');
    expect(
      await vmctl('stop', 'echo'),
      1,
      /^stopping vm echo: (cannot stop vm that is not running|failed: .*)\n$/,
    );
  });

  await t.test('start by name, then the console echoes what is typed and ~. leaves', async () => {
    const r = await vmctl('start', 'echo');
    expect(r, 0, /^vmctl: started vm 1 successfully, tty \/dev\/pts\/[0-9]+\n$/);
    const [vm] = await status('echo');
    assert.equal(vm?.state, 'running');
    assert.ok(vm.pid !== null && alive(vm.pid), 'the VM process runs');
    assert.equal(`vmctl: started vm 1 successfully, tty ${String(vm.tty)}\n`, r.stderr);
    // CURMEM: the guest memory the VM process reports (from its start, then every two seconds).
    let curmem = vm.curmem ?? 0;
    for (let looks = 0; curmem === 0 && looks < 400; looks++) {
      await pause(50);
      curmem = (await status('echo'))[0]?.curmem ?? 0;
    }
    assert.ok(
      curmem > 0 && curmem <= vm.maxmem,
      `expected 0 < curmem <= maxmem (${vm.maxmem}), got ${curmem}\n${log}`,
    );
    const table = await vmctl('status', 'echo');
    assert.match(
      table.stdout.split('\n')[1] ?? '',
      new RegExp(`^ +1 +${vm.pid} +1 +64\\.0M +[0-9.]+[BKM] +pts/[0-9]+ +root +running echo$`),
      explain(table),
    );
    expect(
      await vmctl('start', 'echo'),
      1,
      'vmctl: start vm command failed: Operation already in progress\n',
    );

    const console = startVmctl(['console', 'echo'], { socket });
    console.write('ping\n');
    await console.waitForOutput('ping\n');
    console.write('~.');
    const done = await console.done;
    assert.equal(done.status, 0, explain(done));
    assert.match(done.stderr, /\[EOT\]/);
  });

  await t.test('pause and unpause', async () => {
    expect(await vmctl('pause', 'echo'), 0, 'vmctl: paused vm 1 successfully\n');
    assert.equal((await status('1'))[0]?.state, 'paused');
    expect(await vmctl('unpause', '1'), 0, 'vmctl: unpaused vm 1 successfully\n');
    assert.equal((await status('1'))[0]?.state, 'running');
  });

  await t.test('start -b makes a new VM; start -c attaches to its console', async () => {
    expect(
      await vmctl('start', '-b', echo, '-m', '32M', 'new1'),
      0,
      /^vmctl: started vm 2 successfully, tty /,
    );
    const attached = startVmctl(['start', '-c', '-b', echo, '-m', '32M', 'new2'], { socket });
    attached.write('hello there\n');
    await attached.waitForOutput('hello there\n');
    attached.write('~.');
    const done = await attached.done;
    assert.equal(done.status, 0, explain(done));
    const names = (await status()).map((vm) => `${vm.name}:${vm.state}`);
    assert.deepEqual(names, ['echo:running', 'new1:running', 'new2:running']);
  });

  await t.test(
    'wait returns when a forced stop ends the VM; a stopped new VM is forgotten',
    async () => {
      const waiting = startVmctl(['wait', 'new1'], { socket });
      // vmctl prints this just before it sends its request; a status round trip after that
      // lets vmd take the wait before the stop.
      await waiting.waitForError('waiting for vm new1: ');
      await status();
      const stopped = await vmctl('stop', '-f', 'new1');
      expect(stopped, 0, 'stopping vm new1: requested to shutdown vm 2\n');
      const waited = await waiting.done;
      assert.deepEqual(
        [waited.status, waited.stderr],
        [0, 'waiting for vm new1: terminated vm 2\n'],
        explain(waited),
      );
      assert.deepEqual(
        (await status()).map((vm) => vm.name),
        ['echo', 'new2'],
      );
    },
  );

  await t.test('stop -w waits for the end; stop -a stops every running VM', async () => {
    expect(await vmctl('stop', '-w', 'echo'), 0, 'stopping vm echo: terminated vm 1\n');
    assert.equal((await status('echo'))[0]?.state, 'stopped', 'a VM of vm.conf is kept, stopped');
    expect(await vmctl('start', 'echo'), 0, /^vmctl: started vm 1 successfully/);
    const all = await vmctl('stop', '-aw');
    assert.equal(all.status, 0, explain(all));
    assert.deepEqual(all.stderr.split('\n').sort(), [
      '',
      'stopping vm echo: terminated vm 1',
      'stopping vm new2: terminated vm 3',
    ]);
    const r = await vmctl('status', '-r');
    expect(r, 1, '');
    for (const pid of pids) assert.ok(!alive(pid), `VM process ${pid} has ended`);
  });

  await t.test('log, load, reload and reset', async () => {
    expect(await vmctl('log', 'verbose'), 0, '');
    expect(await vmctl('log', 'brief'), 0, '');
    expect(await vmctl('load', 'extra.conf'), 0, '');
    assert.deepEqual(
      (await status()).map((vm) => vm.name),
      ['echo', 'extra'],
    );
    expect(await vmctl('load', 'missing.conf'), 1, /^vmctl: command failed: Invalid argument\n/);
    expect(await vmctl('reload'), 0, '');
    assert.deepEqual(
      (await status()).map((vm) => vm.name),
      ['echo'],
      'reload forgets what load added',
    );
    expect(await vmctl('start', 'echo'), 0, /^vmctl: started vm/);
    expect(await vmctl('reset', 'vms'), 0, '');
    const r = await vmctl('status');
    assert.equal(r.status, 1, explain(r));
    for (const pid of pids) assert.ok(!alive(pid), `VM process ${pid} has ended`);
  });

  await t.test('a disk image that cannot be used is refused before the VM starts', async () => {
    const corrupt = join(dir, 'corrupt.qcow2');
    writeFileSync(corrupt, Buffer.from('QFI\xfbnot a header', 'latin1'));
    const r = await vmctl('start', '-b', echo, '-d', corrupt, 'bad-disk');
    expect(r, 1, new RegExp(`^vmctl: command failed: .*\n.*${corrupt}.*\n$`));
    expect(
      await vmctl('create', '-s', '1M', 'in-use.qcow2'),
      0,
      'vmctl: qcow2 imagefile created\n',
    );
    const inUse = join(dir, 'in-use.qcow2');
    expect(await vmctl('start', '-b', echo, '-d', inUse, 'writer'), 0, /^vmctl: started vm/);
    const second = await vmctl('start', '-b', echo, '-d', inUse, 'second-writer');
    expect(second, 1, new RegExp(`^vmctl: command failed: .*\n.*${inUse}: file is in use`));
    const names = (await status()).map((vm) => vm.name);
    assert.deepEqual(names, ['writer'], 'the refused VMs were not kept');
  });
});
