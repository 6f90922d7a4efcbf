#!/usr/bin/env node
/**
 * vmctl(8), also installed as vmmctl: controls vmd through its control socket, and creates
 * disk images by itself. Messages and exit statuses are OpenBSD vmctl's (see man/vmctl.8).
 */

import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { hostAccounts } from '../daemon/accounts.js';
import { clientSocketPath } from '../daemon/paths.js';
import { runAction, type ActionIo } from '../ctl/actions.js';
import { parseInvocation } from '../ctl/args.js';
import { ControlClient } from '../ctl/client.js';
import { runCreate } from '../ctl/create.js';
import { CtlFailure, fatal } from '../ctl/errors.js';

/** The name the program was run as: `vmmctl` for the old name, else `vmctl`. */
function programName(): string {
  const name = basename(process.argv[1] ?? 'vmctl').replace(/\.js$/, '');
  return name === 'vmmctl' ? 'vmmctl' : 'vmctl';
}

const prog = programName();

function stderr(text: string): void {
  process.stderr.write(text);
}

async function main(): Promise<number> {
  const { command } = parseInvocation(
    {
      prog,
      warn: (message) => {
        stderr(`${prog}: ${message}\n`);
      },
    },
    process.argv.slice(2),
  );
  if (command.kind === 'create') {
    return await runCreate({ prog, stderr, stderrIsTTY: process.stderr.isTTY }, command);
  }
  let socket: string;
  try {
    socket = clientSocketPath({ exists: existsSync });
  } catch (error) {
    throw fatal(prog, error instanceof Error ? error.message : String(error));
  }
  const client = await ControlClient.connect(prog, socket);
  const accounts = hostAccounts();
  const io: ActionIo = {
    prog,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr,
    print: (text) => process.stdout.write(text),
    names: {
      user: (uid) => accounts.user(uid)?.name,
      group: (gid) => accounts.group(gid)?.name,
    },
  };
  try {
    return await runAction(io, client, command);
  } finally {
    client.close();
  }
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    if (error instanceof CtlFailure) {
      stderr(error.text);
      process.exit(error.status);
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    stderr(`${prog}: internal error: ${detail}\n`);
    process.exit(1);
  },
);
