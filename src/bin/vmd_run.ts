#!/usr/bin/env node
/**
 * vmd-run: boots one kernel on the VMM and streams its serial console (COM1) to standard
 * output; a developer's entry point until vmd and vmctl run VMs. Exits with the guest's
 * debug-exit code (port 0xf4), 0 when the guest halts for good, 1 on an error.
 */

import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Machine, MachineConfigError } from '../vm/machine.js';
import { parseSize } from '../common/size.js';
import { initLog, setVerbosity } from '../common/log.js';

const USAGE = 'usage: vmd-run [-v] [-m size] [--flat] [--max-instructions n] kernel';

function fail(message: string, status = 1): never {
  process.stderr.write(`vmd-run: ${message}\n`);
  process.exit(status);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        memory: { type: 'string', short: 'm', default: '64M' },
        flat: { type: 'boolean', default: false },
        'max-instructions': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        verbose: { type: 'boolean', short: 'v', multiple: true, default: [] },
      },
      allowPositionals: true,
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
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
  const stop = machine.run();
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
