/**
 * vmctl's command table (main.c `ctl_commands`): each command's name and usage, how a command
 * word is matched (any prefix that names one command), and the two usage messages.
 */

import { CtlFailure } from './errors.js';

/** A vmctl command name. */
export type CommandName =
  | 'console'
  | 'create'
  | 'load'
  | 'log'
  | 'pause'
  | 'reload'
  | 'reset'
  | 'show'
  | 'start'
  | 'status'
  | 'stop'
  | 'unpause'
  | 'wait';

/**
 * The commands and their usage, in vmctl's order (which is also how they are matched).
 * `start` has this port's `-C cmdline` and `-I initrd` for Linux kernels, and `status` and
 * `show` the `-j` option for JSON.
 */
export const COMMANDS: readonly { name: CommandName; usage: string }[] = [
  { name: 'console', usage: 'id' },
  { name: 'create', usage: '[-b base | -i disk] [-s size] disk' },
  { name: 'load', usage: 'filename' },
  { name: 'log', usage: '[brief | verbose]' },
  { name: 'pause', usage: 'id' },
  { name: 'reload', usage: '' },
  { name: 'reset', usage: '[all | switches | vms]' },
  { name: 'show', usage: '[-jr] [id]' },
  {
    name: 'start',
    usage:
      '[-cL] [-B device] [-b path] [-C cmdline] [-d disk] [-I initrd]\n' +
      '\t\t[-i count] [-m size] [-n switch] [-r path] [-t name] id | name',
  },
  { name: 'status', usage: '[-jr] [id]' },
  { name: 'stop', usage: '[-fw] [id | -a]' },
  { name: 'unpause', usage: 'id' },
  { name: 'wait', usage: 'id' },
];

/** vmctl's `usage()`: the general usage, after `preface` (lines already ended), exit 1. */
export function usage(prog: string, preface = ''): CtlFailure {
  return new CtlFailure(`${preface}usage:\t${prog} [-v] command [arg ...]\n`);
}

/** vmctl's `ctl_usage()`: the usage of `command`, after `preface`, exit 1. */
export function commandUsage(prog: string, command: CommandName, preface = ''): CtlFailure {
  const entry = COMMANDS.find((c) => c.name === command);
  const line = `${prog} [-v] ${command} ${entry?.usage ?? ''}`.trimEnd();
  return new CtlFailure(`${preface}usage:\t${line}\n`);
}

/**
 * The command `word` names: a command whose name starts with `word` (main.c `parse`, which
 * compares with strncmp). A word that starts two names is ambiguous and one that starts none
 * is unknown; both are answered with the general usage.
 */
export function findCommand(prog: string, word: string): CommandName {
  const matches = COMMANDS.filter((c) => c.name.startsWith(word));
  if (matches.length > 1) throw usage(prog, `ambiguous argument: ${word}\n`);
  const match = matches[0];
  if (match === undefined) throw usage(prog, `unknown argument: ${word}\n`);
  return match.name;
}
