#!/usr/bin/env node
/**
 * vmd-vm: the VM process that the vmd parent starts for each running VM (vm_process.ts), with
 * its framed channel to the parent on descriptor 3. Not a command for people: started any
 * other way it finds no channel and says so.
 */

import { fstatSync } from 'node:fs';
import { runVmProcess, VM_CHANNEL_FD } from '../vm/vm_process.js';

function channelPresent(): boolean {
  try {
    return fstatSync(VM_CHANNEL_FD).isSocket();
  } catch {
    return false;
  }
}

if (!channelPresent()) {
  process.stderr.write(
    `vmd-vm: descriptor ${VM_CHANNEL_FD} is not a channel to the vmd parent; ` +
      'this program is started by vmd\n',
  );
  process.exit(2);
}

runVmProcess().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(
      `vmd-vm: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
