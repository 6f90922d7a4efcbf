/**
 * vmctl against a control socket whose answers each test scripts: what vmctl sends for each
 * command, and what it prints and how it exits for each answer vmd can give (vmctl.c's
 * messages), including a console on a real pty.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { startParams } from '../../src/daemon/message_samples.js';
import type { Message, VmStatus } from '../../src/daemon/messages.js';
import { openPty } from '../../src/sys/pty.js';
import { runVmctl, ScriptedVmd, startVmctl, VMCTL } from './vmctl_helpers.js';

const M = 1024 * 1024;

function vm(id: number, name: string, running: boolean): VmStatus {
  return {
    id,
    pid: running ? 1000 + id : null,
    vcpus: 1,
    maxMemory: 512 * M,
    curMemory: running ? 3 * M : 0,
    tty: running ? `/dev/pts/${id}` : null,
    owner: { uid: 0, gid: null },
    state: running ? 'running' : 'stopped',
    name,
  };
}

const LIST = [vm(1, 'web', true), vm(2, 'db', false), vm(3, 'build', true)];

/** Answers `get-info-vm-request` with `list`, and other requests with `other`. */
function listing(
  list: VmStatus[],
  other: (m: Message, reply: (m: Message) => void) => void = () => undefined,
) {
  return (request: Message, reply: (m: Message) => void): void => {
    if (request.type !== 'get-info-vm-request') {
      other(request, reply);
      return;
    }
    for (const info of list) reply({ type: 'get-info-vm-data', info });
    reply({ type: 'get-info-vm-end-data' });
  };
}

test('status prints the table, filters, -j prints JSON, and nothing to show exits 1', async (t) => {
  const vmd = await ScriptedVmd.start(listing(LIST));
  t.after(() => vmd.close());
  const socket = vmd.path;
  const header = '   ID   PID VCPUS  MAXMEM  CURMEM     TTY        OWNER    STATE NAME\n';
  let r = await runVmctl(['status'], { socket });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    header +
      '    1  1001     1    512M    3.0M   pts/1         root  running web\n' +
      '    2     -     1    512M       -       -         root  stopped db\n' +
      '    3  1003     1    512M    3.0M   pts/3         root  running build\n',
  );
  assert.deepEqual(vmd.requests, [{ type: 'get-info-vm-request' }]);
  r = await runVmctl(['show', '-r', 'db'], { socket });
  assert.deepEqual([r.status, r.stdout, r.stderr], [1, header, '']);
  r = await runVmctl(['stat', '-j', '3'], { socket });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    {
      id: 3,
      pid: 1003,
      vcpus: 1,
      maxmem: 512 * M,
      curmem: 3 * M,
      tty: '/dev/pts/3',
      owner: 'root',
      state: 'running',
      name: 'build',
    },
  ]);
});

test('stop prints what happened to the stop, and -w waits for the VM to end', async (t) => {
  const vmd = await ScriptedVmd.start((request, reply) => {
    if (request.type !== 'terminate-vm-request') return;
    const name = 'name' in request.vm ? request.vm.name : '';
    if (name === 'db') {
      reply({ type: 'terminate-vm-response', result: 1004, vmId: 2, pid: null, tty: null });
      return;
    }
    if (name === 'nope') {
      reply({ type: 'terminate-vm-response', result: 2, vmId: null, pid: null, tty: null });
      return;
    }
    reply({ type: 'terminate-vm-response', result: 0, vmId: 1, pid: 1001, tty: null });
    if (request.wait)
      reply({ type: 'terminate-vm-event', result: 0, vmId: 1, pid: 1001, tty: null });
  });
  t.after(() => vmd.close());
  const socket = vmd.path;
  let r = await runVmctl(['stop', 'web'], { socket });
  assert.deepEqual([r.status, r.stderr], [0, 'stopping vm web: requested to shutdown vm 1\n']);
  r = await runVmctl(['stop', '-fw', 'web'], { socket });
  assert.deepEqual([r.status, r.stderr], [0, 'stopping vm web: terminated vm 1\n']);
  r = await runVmctl(['stop', 'db'], { socket });
  assert.deepEqual(
    [r.status, r.stderr],
    [1, 'stopping vm db: cannot stop vm that is not running\n'],
  );
  r = await runVmctl(['stop', 'nope'], { socket });
  assert.deepEqual([r.status, r.stderr], [1, 'stopping vm nope: vm not found\n']);
  assert.deepEqual(vmd.requests.slice(0, 2), [
    { type: 'terminate-vm-request', vm: { name: 'web' }, uid: null, force: false, wait: false },
    { type: 'terminate-vm-request', vm: { name: 'web' }, uid: null, force: true, wait: true },
  ]);
});

test('stop -a stops every running VM by name; wait prints the end of the VM', async (t) => {
  const vmd = await ScriptedVmd.start(
    listing(LIST, (request, reply) => {
      if (request.type === 'terminate-vm-request' && 'name' in request.vm) {
        const id = request.vm.name === 'web' ? 1 : 3;
        reply({ type: 'terminate-vm-response', result: 0, vmId: id, pid: null, tty: null });
        reply({ type: 'terminate-vm-event', result: 0, vmId: id, pid: null, tty: null });
      } else if (request.type === 'wait-vm-request') {
        reply({ type: 'terminate-vm-event', result: 0, vmId: 3, pid: null, tty: null });
      }
    }),
  );
  t.after(() => vmd.close());
  const socket = vmd.path;
  let r = await runVmctl(['stop', '-aw'], { socket });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stderr.split('\n').sort(), [
    '',
    'stopping vm build: terminated vm 3',
    'stopping vm web: terminated vm 1',
  ]);
  const names = vmd.requests.flatMap((m) =>
    m.type === 'terminate-vm-request' && 'name' in m.vm ? [m.vm.name] : [],
  );
  assert.deepEqual(names.sort(), ['build', 'web'], 'one stop per running VM, by name');
  r = await runVmctl(['wait', '3'], { socket });
  assert.deepEqual([r.status, r.stderr], [0, 'waiting for vm: terminated vm 3\n']);
  assert.deepEqual(vmd.requests.at(-1), { type: 'wait-vm-request', vm: { id: 3 }, uid: null });
});

test("start, pause and unpause print vmctl's messages for success and each failure", async (t) => {
  const results: Record<string, number> = { web: 0, nodisk: 1002, twice: 114 };
  const vmd = await ScriptedVmd.start((request, reply) => {
    if (request.type === 'start-vm-request' && 'name' in request.vm) {
      const result = results[request.vm.name] ?? 0;
      reply({
        type: 'start-vm-response',
        result,
        vmId: 4,
        pid: result === 0 ? 999 : null,
        tty: result === 0 ? '/dev/pts/9' : null,
      });
    } else if (request.type === 'pause-vm') {
      reply({ type: 'pause-vm-response', result: 0, vmId: 4, pid: 999, tty: null });
    } else if (request.type === 'unpause-vm') {
      reply({ type: 'unpause-vm-response', result: 2, vmId: null, pid: null, tty: null });
    }
  });
  t.after(() => vmd.close());
  const socket = vmd.path;
  const cases: [string[], number, string][] = [
    [['start', 'web'], 0, 'vmctl: started vm 4 successfully, tty /dev/pts/9\n'],
    [['start', 'nodisk'], 1, 'vmctl: could not open disk image(s)\n'],
    [['start', 'twice'], 1, 'vmctl: start vm command failed: Operation already in progress\n'],
    [['pause', 'web'], 0, 'vmctl: paused vm 4 successfully\n'],
    [['unpause', 'web'], 1, 'vmctl: unpause vm command failed: No such file or directory\n'],
  ];
  for (const [args, status, stderr] of cases) {
    const r = await runVmctl(args, { socket });
    assert.deepEqual([r.status, r.stderr], [status, stderr], args.join(' '));
  }
  assert.deepEqual(vmd.requests[0], {
    type: 'start-vm-request',
    uid: null,
    ...startParams({ name: 'web' }),
  });
});

test('load, reload, reset and log: silent on ok, vmctl\'s "command failed" on fail', async (t) => {
  const vmd = await ScriptedVmd.start((request, reply) => {
    if (request.type === 'load')
      reply({ type: 'fail', error: 22, detail: '/x/extra.conf:3: syntax error' });
    else if (request.type === 'reset') reply({ type: 'fail', error: 1, detail: null });
    else reply({ type: 'ok' });
  });
  t.after(() => vmd.close());
  const socket = vmd.path;
  let r = await runVmctl(['load', 'extra.conf'], { socket, cwd: '/' });
  assert.deepEqual(
    [r.status, r.stderr],
    [1, 'vmctl: command failed: Invalid argument\nvmctl: /x/extra.conf:3: syntax error\n'],
  );
  r = await runVmctl(['reset', 'vms'], { socket });
  assert.deepEqual([r.status, r.stderr], [1, 'vmctl: command failed: Operation not permitted\n']);
  for (const args of [['reload'], ['log', 'verbose'], ['log', 'brief']]) {
    r = await runVmctl(args, { socket });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], args.join(' '));
  }
  assert.deepEqual(vmd.requests, [
    { type: 'load', path: '/extra.conf' },
    { type: 'reset', scope: 'vms' },
    { type: 'reload' },
    { type: 'verbose', level: 2 },
    { type: 'verbose', level: 0 },
  ]);
});

test('vmctl says when vmd is not there or hangs up without answering', async (t) => {
  const vmd = await ScriptedVmd.start(() => undefined);
  t.after(() => vmd.close());
  let r = await runVmctl(['status'], { socket: `${vmd.path}.missing` });
  assert.deepEqual(
    [r.status, r.stderr],
    [1, `vmctl: connect: ${vmd.path}.missing: No such file or directory\n`],
  );
  vmd.answer(() => {
    void vmd.close();
  });
  r = await runVmctl(['status'], { socket: vmd.path });
  assert.deepEqual([r.status, r.stderr], [1, 'vmctl: pipe closed\n']);
});

test('console copies the pty both ways and ~. at the start of a line leaves with status 0', async (t) => {
  const pty = openPty();
  const vmd = await ScriptedVmd.start((request, reply) => {
    if (request.type === 'console-request') {
      const known = 'name' in request.vm && request.vm.name === 'web';
      reply({
        type: 'console-response',
        result: known ? 0 : 2,
        vmId: 1,
        pid: 1001,
        tty: known ? pty.path : null,
      });
    }
  });
  const guestSide = new ReadStream(pty.master);
  t.after(async () => {
    guestSide.destroy();
    closeSync(pty.slave);
    await vmd.close();
  });
  let typed = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  guestSide.on('data', (chunk: Buffer) => {
    typed += chunk.toString('latin1');
    for (const w of waiters) if (typed.includes(w.text)) w.resolve();
  });
  /** Resolves once the guest's side has received `text`. */
  const guestReceived = (text: string): Promise<void> =>
    new Promise((resolve) => {
      waiters.push({ text, resolve });
      if (typed.includes(text)) resolve();
    });

  const missing = await runVmctl(['console', 'db'], { socket: vmd.path });
  assert.deepEqual([missing.status, missing.stderr], [1, 'vmctl: console not found\n']);

  const vmctl = startVmctl(['console', 'web'], { socket: vmd.path });
  vmctl.write('uname -a\n');
  await guestReceived('uname -a\n');
  writeSync(pty.master, 'Linux guest 6.1\r\n');
  await vmctl.waitForOutput('Linux guest 6.1\r\n');
  vmctl.write('a~.b\n~.');
  const r = await vmctl.done;
  assert.equal(r.status, 0, r.stderr);
  await guestReceived('a~.b\n');
  assert.equal(typed, 'uname -a\na~.b\n', 'what was typed reached the guest, up to ~.');
  assert.equal(r.stdout, 'Linux guest 6.1\r\n');
  assert.match(r.stderr, new RegExp(`^Connected to ${pty.path} \\(speed 115200\\)\r\n`));
  assert.match(r.stderr, /\[EOT\]\r\n$/);
});

/** `stty -a` of the terminal at `path`: its settings as words (`icanon`, `-echo`). */
function ttySettings(path: string): string[] {
  const r = spawnSync('stty', ['-F', path, '-a'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split(/[\s;]+/);
}

test('console on a terminal: raw while attached, restored when the user leaves', async (t) => {
  const guest = openPty();
  const user = openPty();
  spawnSync('stty', ['-F', user.path, 'sane']);
  const vmd = await ScriptedVmd.start((request, reply) => {
    reply({ type: 'console-response', result: 0, vmId: 1, pid: 1001, tty: guest.path });
  });
  // The test holds the terminal's slave too, so that it outlives vmctl.
  const screen = new ReadStream(user.master);
  t.after(async () => {
    screen.destroy();
    closeSync(user.slave);
    closeSync(guest.slave);
    closeSync(guest.master);
    await vmd.close();
  });
  assert.ok(ttySettings(user.path).includes('icanon'), 'the terminal starts in canonical mode');
  let shown = '';
  const seen = new Promise<void>((resolve) => {
    screen.on('data', (chunk: Buffer) => {
      shown += chunk.toString('latin1');
      if (shown.includes('login: ')) resolve();
    });
  });
  const child = spawn(process.execPath, [VMCTL, 'console', '1'], {
    env: { ...process.env, VMD_SOCKET: vmd.path },
    stdio: [user.slave, user.slave, 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  writeSync(guest.master, 'login: ');
  await seen;
  const attached = ttySettings(user.path);
  assert.ok(
    attached.includes('-icanon') && attached.includes('-echo'),
    `raw while attached: ${attached.join(' ')}`,
  );
  writeSync(user.master, '\r~.');
  assert.equal(await exited, 0, stderr);
  const after = ttySettings(user.path);
  assert.ok(after.includes('icanon') && after.includes('echo'), `restored: ${after.join(' ')}`);
});

test('vmmctl, the old name, is the same program and names itself so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vmmctl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(VMCTL, join(dir, 'vmmctl'));
  const r = spawnSync(process.execPath, [join(dir, 'vmmctl'), 'sta'], { encoding: 'utf8' });
  assert.deepEqual(
    [r.status, r.stderr],
    [1, 'ambiguous argument: sta\nusage:\tvmmctl [-v] command [arg ...]\n'],
  );
  const plain = spawnSync(process.execPath, [VMCTL], { encoding: 'utf8' });
  assert.deepEqual([plain.status, plain.stderr], [1, 'usage:\tvmctl [-v] command [arg ...]\n']);
});
