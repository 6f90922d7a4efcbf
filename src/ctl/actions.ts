/**
 * The commands that talk to vmd (main.c `vmmaction` and vmctl.c): each sends its request on
 * the control socket, reads the replies to it and prints what vmctl prints, on standard error
 * for messages and standard output for `status`. Each returns the exit status: 0, or 1 when
 * vmd refused or the request failed.
 */

import { VMD_ERRORS } from '../daemon/codes.js';
import type { Message, VmRef, VmStatus } from '../daemon/messages.js';
import type { CtlCommand } from './args.js';
import { ControlClient } from './client.js';
import { attachConsole, type ConsoleIo } from './console.js';
import { resultMessage, strerror } from './errors.js';
import { formatStatusJson, formatStatusTable, selectVms, type OwnerNames } from './status.js';

/** What the commands need from the program around them. */
export interface ActionIo extends ConsoleIo {
  /** Writes to standard output. */
  print: (text: string) => void;
  /** Names for the OWNER column. */
  names: OwnerNames;
}

/** errno values vmctl treats by name (Linux's numbers). */
const ENOENT = 2;
const EINTR = 4;

/** A message line: `prog: text`. */
function warn(io: ActionIo, text: string): void {
  io.stderr(`${io.prog}: ${text}\n`);
}

/**
 * vmctl's answer to `fail` (err(1, "command failed")): the error in words, and vmd's detail
 * on a line of its own when it sent one.
 */
function failText(io: ActionIo, message: Extract<Message, { type: 'fail' }>): string {
  const why = message.error === 0 ? '' : `: ${resultMessage(message.error)}`;
  const detail = message.detail === null ? '' : `${io.prog}: ${message.detail}\n`;
  return `${io.prog}: command failed${why}\n${detail}`;
}

/** Prints the answer to a reply vmctl did not expect; returns 1. */
function unexpected(io: ActionIo, message: Message): number {
  if (message.type === 'fail') io.stderr(failText(io, message));
  else warn(io, 'unexpected response received from vmd');
  return 1;
}

/** Sends `message` and returns its first reply. */
async function ask(client: ControlClient, message: Message): Promise<Message> {
  const id = client.send(message);
  try {
    return await client.next(id);
  } finally {
    client.forget(id);
  }
}

/** The list of VMs (get-info-vm-request), or the reply that ended it otherwise. */
async function vmList(client: ControlClient): Promise<VmStatus[] | Message> {
  const id = client.send({ type: 'get-info-vm-request' });
  const list: VmStatus[] = [];
  for (;;) {
    const reply = await client.next(id);
    if (reply.type === 'get-info-vm-data') list.push(reply.info);
    else if (reply.type === 'get-info-vm-end-data') return list;
    else return reply;
  }
}

/**
 * How a stop or a wait ended, in terminate_vm_complete's words (the text after `stopping vm
 * foo: `): the stop was requested, refused, or, when waiting, the VM terminated.
 */
async function stopOutcome(
  io: ActionIo,
  client: ControlClient,
  request: Message,
  wait: boolean,
  force: boolean,
): Promise<{ text: string; status: number }> {
  const id = client.send(request);
  try {
    for (;;) {
      const reply = await client.next(id);
      if (reply.type === 'terminate-vm-event') {
        const how = !wait && force ? 'forced to terminate' : 'terminated';
        return { text: `${how} vm ${reply.vmId ?? '?'}\n`, status: 0 };
      }
      if (reply.type === 'fail') return { text: failText(io, reply), status: 1 };
      if (reply.type !== 'terminate-vm-response') {
        return { text: 'unexpected response received from vmd\n', status: 1 };
      }
      switch (reply.result) {
        case 0:
          // Waiting: the stop was accepted; the event comes when the VM has stopped.
          if (wait) continue;
          return { text: `requested to shutdown vm ${reply.vmId ?? '?'}\n`, status: 0 };
        case VMD_ERRORS.VMD_VM_STOP_INVALID:
          return { text: 'cannot stop vm that is not running\n', status: 1 };
        case ENOENT:
          return { text: 'vm not found\n', status: 1 };
        case EINTR:
          return { text: 'interrupted call\n', status: 1 };
        default:
          return { text: `failed: ${resultMessage(reply.result)}\n`, status: 1 };
      }
    }
  } finally {
    client.forget(id);
  }
}

/** How a VM is named after `stopping vm` and `waiting for vm`. */
function vmLabel(vm: VmRef): string {
  return 'name' in vm ? ` ${vm.name}` : '';
}

async function stop(
  io: ActionIo,
  client: ControlClient,
  command: Extract<CtlCommand, { kind: 'stop' }>,
): Promise<number> {
  const { force, wait } = command;
  if (command.vm !== null) {
    io.stderr(`stopping vm${vmLabel(command.vm)}: `);
    const request: Message = {
      type: 'terminate-vm-request',
      vm: command.vm,
      uid: null,
      force,
      wait,
    };
    const outcome = await stopOutcome(io, client, request, wait, force);
    io.stderr(outcome.text);
    return outcome.status;
  }
  // -a: one stop per running VM, by name (vmctl.c terminate_all); sent together, so that
  // waiting for one does not hold up the others, and reported as each ends.
  const list = await vmList(client);
  if (!Array.isArray(list)) return unexpected(io, list);
  const outcomes = list
    .filter((vm) => vm.pid !== null)
    .map(async (vm) => {
      const request: Message = {
        type: 'terminate-vm-request',
        vm: { name: vm.name },
        uid: null,
        force,
        wait,
      };
      const outcome = await stopOutcome(io, client, request, wait, force);
      io.stderr(`stopping vm ${vm.name}: ${outcome.text}`);
      return outcome.status;
    });
  const statuses = await Promise.all(outcomes);
  return statuses.some((status) => status !== 0) ? 1 : 0;
}

async function waitFor(io: ActionIo, client: ControlClient, vm: VmRef): Promise<number> {
  io.stderr(`waiting for vm${vmLabel(vm)}: `);
  const outcome = await stopOutcome(
    io,
    client,
    { type: 'wait-vm-request', vm, uid: null },
    true,
    false,
  );
  io.stderr(outcome.text);
  return outcome.status;
}

async function status(
  io: ActionIo,
  client: ControlClient,
  command: Extract<CtlCommand, { kind: 'status' }>,
): Promise<number> {
  const list = await vmList(client);
  if (!Array.isArray(list)) return unexpected(io, list);
  const shown = selectVms(list, command);
  io.print(command.json ? formatStatusJson(shown, io.names) : formatStatusTable(shown, io.names));
  // vmctl exits 1 (ENOENT) when there is nothing to show.
  return shown.length === 0 ? 1 : 0;
}

async function pauseOrUnpause(
  io: ActionIo,
  client: ControlClient,
  kind: 'pause' | 'unpause',
  vm: VmRef,
): Promise<number> {
  const reply = await ask(client, {
    type: kind === 'pause' ? 'pause-vm' : 'unpause-vm',
    vm,
    uid: null,
  });
  if (reply.type !== `${kind}-vm-response` || !('result' in reply)) return unexpected(io, reply);
  if (reply.result !== 0) {
    warn(io, `${kind} vm command failed: ${strerror(reply.result)}`);
    return 1;
  }
  warn(io, `${kind}d vm ${reply.vmId ?? '?'} successfully`);
  return 0;
}

/** Attaches to the console of `vm`, which vmd names in a console-response. */
async function consoleOf(io: ActionIo, client: ControlClient, vm: VmRef): Promise<number> {
  const reply = await ask(client, { type: 'console-request', vm, uid: null });
  if (reply.type === 'fail') return unexpected(io, reply);
  if (reply.type !== 'console-response' || reply.result !== 0 || reply.tty === null) {
    warn(io, 'console not found');
    return 1;
  }
  client.close();
  return await attachConsole(io, reply.tty);
}

async function start(
  io: ActionIo,
  client: ControlClient,
  command: Extract<CtlCommand, { kind: 'start' }>,
): Promise<number> {
  const reply = await ask(client, { type: 'start-vm-request', uid: null, ...command.params });
  if (reply.type !== 'start-vm-response') return unexpected(io, reply);
  if (reply.result !== 0) {
    // vmd's own codes have vmctl's sentences; anything else is an errno value.
    const known = reply.result > 1000 && reply.result !== VMD_ERRORS.VMD_VM_STOP_INVALID;
    warn(
      io,
      known ? resultMessage(reply.result) : `start vm command failed: ${strerror(reply.result)}`,
    );
    return 1;
  }
  if (command.console) {
    if (reply.tty !== null) {
      client.close();
      return await attachConsole(io, reply.tty);
    }
    return await consoleOf(io, client, command.params.vm);
  }
  warn(io, `started vm ${reply.vmId ?? '?'} successfully, tty ${reply.tty ?? '-'}`);
  return 0;
}

/** A request answered by `ok` or `fail` alone: load, reload, reset, log. */
async function simple(io: ActionIo, client: ControlClient, request: Message): Promise<number> {
  const reply = await ask(client, request);
  return reply.type === 'ok' ? 0 : unexpected(io, reply);
}

/** Runs a command that talks to vmd on `client`; returns the exit status. */
export async function runAction(
  io: ActionIo,
  client: ControlClient,
  command: Exclude<CtlCommand, { kind: 'create' }>,
): Promise<number> {
  switch (command.kind) {
    case 'start':
      return await start(io, client, command);
    case 'stop':
      return await stop(io, client, command);
    case 'wait':
      return await waitFor(io, client, command.vm);
    case 'status':
      return await status(io, client, command);
    case 'pause':
    case 'unpause':
      return await pauseOrUnpause(io, client, command.kind, command.vm);
    case 'console':
      return await consoleOf(io, client, command.vm);
    case 'load':
      return await simple(io, client, { type: 'load', path: command.path });
    case 'reload':
      return await simple(io, client, { type: 'reload' });
    case 'reset':
      return await simple(io, client, { type: 'reset', scope: command.scope });
    case 'log':
      return await simple(io, client, { type: 'verbose', level: command.verbose ? 2 : 0 });
  }
}
