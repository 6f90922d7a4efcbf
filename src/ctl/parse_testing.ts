/**
 * The command-line tests' fixture: a folder with a kernel, an initrd and disk images (one with
 * the qcow2 magic, one named in capitals), and a parser run that collects what vmctl would
 * print on standard error, and the checks of tables of command lines against it.
 */

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInvocation, type CtlCommand } from './args.js';
import { CtlFailure } from './errors.js';

/** The fixture folder, removed when the process exits. */
export const dir = mkdtempSync(join(tmpdir(), 'vmctl-args-'));
process.on('exit', () => {
  rmSync(dir, { recursive: true, force: true });
});
/** A kernel (a regular file). */
export const kernel = join(dir, 'kernel');
/** An initrd. */
export const initrd = join(dir, 'initrd.img');
/** An empty image: raw. */
export const disk = join(dir, 'disk.img');
/** An image with the qcow2 magic and a name that does not say so. */
export const qcow = join(dir, 'magic.img');
writeFileSync(kernel, 'kernel');
writeFileSync(initrd, 'initrd');
writeFileSync(disk, '');
writeFileSync(qcow, Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]));
writeFileSync(join(dir, 'UPPER.QCOW2'), '');
mkdirSync(join(dir, 'sub'));

/** What parsing printed on standard error (warnings, then the failure) and returned. */
export function parse(
  argv: string[],
  prog = 'vmctl',
): { stderr: string; command: CtlCommand | null } {
  let stderr = '';
  const warn = (message: string): void => {
    stderr += `${prog}: ${message}\n`;
  };
  try {
    const { command } = parseInvocation({ prog, warn, cwd: dir }, argv);
    return { stderr, command };
  } catch (error) {
    if (!(error instanceof CtlFailure)) throw error;
    assert.equal(error.status, 1, `exit status of ${argv.join(' ')}`);
    return { stderr: stderr + error.text, command: null };
  }
}

/** vmctl's general usage. */
export const USAGE = 'usage:\tvmctl [-v] command [arg ...]\n';
/** The usage of one command. */
export const usageOf = (text: string): string => `usage:\tvmctl [-v] ${text}\n`;

/** Asserts that each command line fails, printing exactly its text on standard error. */
export function assertRefusals(cases: readonly (readonly [string[], string])[]): void {
  for (const [argv, expected] of cases) {
    const { stderr, command } = parse(argv);
    assert.equal(
      command,
      null,
      `${JSON.stringify(argv)} should fail, parsed as ${JSON.stringify(command)}`,
    );
    assert.equal(stderr, expected, `stderr of ${JSON.stringify(argv)}`);
  }
}

/** Asserts that each command line parses to its command, warning exactly its text. */
export function assertParses(cases: readonly (readonly [string[], CtlCommand, string])[]): void {
  for (const [argv, expected, warnings] of cases) {
    const { stderr, command } = parse(argv);
    assert.deepEqual(command, expected, `${JSON.stringify(argv)} (stderr: ${stderr})`);
    assert.equal(stderr, warnings, `warnings of ${JSON.stringify(argv)}`);
  }
}
