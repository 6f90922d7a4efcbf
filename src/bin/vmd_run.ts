#!/usr/bin/env node
/**
 * vmd-run: boots one kernel on the VMM with its serial console (COM1) on standard output and
 * standard input; a developer's entry point until vmd and vmctl run VMs. On a terminal the
 * input is raw, and `~.` at the start of a line leaves, as with cu(1). Exits with the guest's
 * debug-exit code (port 0xf4), 0 when the guest halts for good, 1 on an error.
 */

import { writeSync } from 'node:fs';
import { fail as failWith, parseCommandLine } from '../common/cli.js';
import { Machine, MachineConfigError } from '../vm/machine.js';
import { parseSize } from '../common/size.js';
import { initLog, setVerbosity } from '../common/log.js';
import { parseDiskArgument } from '../block/open.js';
import { EscapeFilter } from '../ctl/console.js';

const USAGE =
  'usage: vmd-run [-v] [-m size] [-d disk] [-i initrd] [-c cmdline] [--flat]\n' +
  '               [--max-instructions n] kernel';

/** Forwards standard input to the guest's console; returns a function that stops it. */
function attachInput(machine: Machine): () => void {
  const tty = process.stdin.isTTY;
  if (tty) process.stdin.setRawMode(true);
  const escapes = new EscapeFilter();
  const onData = (chunk: Buffer): void => {
    if (!tty) {
      machine.sendInput(chunk);
      return;
    }
    // ~. at the start of a line leaves (cu(1), vmctl console).
    const { send, detach } = escapes.push(chunk);
    if (send.length > 0) machine.sendInput(send);
    if (detach) {
      process.stderr.write('\r\n[EOT]\r\n');
      process.exit(0);
    }
  };
  process.stdin.on('data', onData);
  return () => {
    process.stdin.off('data', onData);
    if (tty) process.stdin.setRawMode(false);
    process.stdin.destroy();
  };
}

function fail(message: string, status = 1): never {
  failWith('vmd-run', message, status);
}

async function main(): Promise<void> {
  const parsed = parseCommandLine('vmd-run', USAGE, {
    options: {
      memory: { type: 'string', short: 'm', default: '64M' },
      disk: { type: 'string', short: 'd', multiple: true, default: [] },
      initrd: { type: 'string', short: 'i' },
      cmdline: { type: 'string', short: 'c' },
      flat: { type: 'boolean', default: false },
      'max-instructions': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      verbose: { type: 'boolean', short: 'v', multiple: true, default: [] },
    },
    allowPositionals: true,
  });
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  initLog('vmd-run');
  // As vmd: -v for verbose, -vv for debug (which logs port writes nobody claims).
  setVerbosity(values.verbose.length);
  const kernel = positionals[0];
  if (kernel === undefined || positionals.length > 1) fail(USAGE, 2);
  let memorySize: number;
  let instructionLimit: number | undefined;
  try {
    memorySize = parseSize(values.memory);
    const max = values['max-instructions'];
    instructionLimit = max === undefined ? undefined : parseSize(max);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error), 2);
  }
  let machine: Machine;
  try {
    machine = await Machine.create({
      memorySize,
      kernel,
      flat: values.flat,
      instructionLimit,
      // As vmctl start -d: repeatable, up to four, with an optional raw: or qcow2: prefix.
      disks: values.disk.map((arg) => {
        const { format, path } = parseDiskArgument(arg);
        return format === undefined ? { path } : { path, format };
      }),
      ...(values.initrd === undefined ? {} : { initrd: values.initrd }),
      ...(values.cmdline === undefined ? {} : { cmdline: values.cmdline }),
      console: {
        write(data: Uint8Array): void {
          writeSync(1, data);
        },
      },
    });
  } catch (error) {
    if (error instanceof MachineConfigError) fail(error.message);
    throw error;
  }
  const detach = attachInput(machine);
  const stop = await machine.runAsync();
  detach();
  switch (stop.kind) {
    case 'debug-exit':
      process.exitCode = stop.code & 0xff;
      return;
    case 'halted':
      process.stderr.write(`vmd-run: guest halted: ${stop.detail}\n`);
      process.exitCode = 0;
      return;
    default:
      fail(`guest stopped (${stop.kind}): ${stop.detail}`);
  }
}

main().catch((error: unknown) => {
  fail(
    `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
});
