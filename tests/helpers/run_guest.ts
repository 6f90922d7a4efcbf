/**
 * Runs a test guest from tests/guests on a fresh machine and captures its console, for the
 * integration tests. Failures say what came: the stop and the last console lines.
 */

import { buildGuest } from '../guests/build_guest.js';
import { Machine } from '../../src/vm/machine.js';
import type { MachineStop } from '../../src/vm/machine.js';

/** A finished guest run. */
export interface GuestRun {
  readonly machine: Machine;
  readonly stop: MachineStop;
  readonly console: string;
}

/** Builds and runs guest `name` with `memorySize` bytes of RAM (64 MiB by default). */
export async function runGuest(
  name: string,
  options: { memorySize?: number; instructionLimit?: number } = {},
): Promise<GuestRun> {
  const kernel = await buildGuest(name);
  const chunks: Buffer[] = [];
  const machine = await Machine.create({
    kernel,
    memorySize: options.memorySize ?? 64 * 1024 * 1024,
    instructionLimit: options.instructionLimit ?? 10_000_000,
    console: {
      write(data: Uint8Array): void {
        chunks.push(Buffer.from(data));
      },
    },
  });
  const stop = machine.run();
  return { machine, stop, console: Buffer.concat(chunks).toString('latin1') };
}

/** The stop and the last `lines` console lines, for assertion messages. */
export function explain(run: GuestRun, lines = 50): string {
  const tail = run.console.split('\n').slice(-lines).join('\n');
  const detail = 'detail' in run.stop ? run.stop.detail : `code ${run.stop.code}`;
  return `guest stopped: ${run.stop.kind}\n${detail}\n--- last console lines ---\n${tail}`;
}
