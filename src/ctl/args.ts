/**
 * vmctl's command line (main.c): `vmctl [-v] command [arg ...]`, each command's options and
 * operands, and the checks vmctl makes before it talks to vmd, with vmctl's messages. The
 * result is a {@link CtlCommand}; a bad command line is a {@link CtlFailure} whose text is what
 * vmctl prints. Warnings (a size rounded down) go to the context's `warn` as they arise.
 *
 * `start` is parsed in start_args.ts.
 */

import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import type { DiskFormat } from '../block/index.js';
import { parseDiskArgument } from '../block/index.js';
import { isValidVmName } from '../config/validate.js';
import type { ResetScope, StartVmParams, VmRef } from '../daemon/messages.js';
import { commandUsage, findCommand, usage, type CommandName } from './commands.js';
import { fatal } from './errors.js';
import { getopt, GetoptError, type GetoptResult } from './getopt.js';
import { commandGetopt, parseMegabytes, parseVmRef, type ParseContext } from './parse_common.js';
import { parseStart } from './start_args.js';

export type { ParseContext } from './parse_common.js';

/** What one vmctl invocation asks for. */
export type CtlCommand =
  | { kind: 'console'; vm: VmRef }
  | {
      kind: 'create';
      /** The new image, absolute. */
      path: string;
      format: DiskFormat;
      /** `-b`: the base image as it is to be recorded (relative to the new image's folder). */
      base: string | null;
      /** `-i`: the image to copy, absolute, with its `raw:`/`qcow2:` prefix if it had one. */
      input: string | null;
      /** `-s`, rounded down to a MiB, or null. */
      size: number | null;
    }
  | { kind: 'load'; path: string }
  | { kind: 'log'; verbose: boolean }
  | { kind: 'pause' | 'unpause' | 'wait'; vm: VmRef }
  | { kind: 'reload' }
  | { kind: 'reset'; scope: ResetScope }
  | { kind: 'status'; vm: VmRef | null; runningOnly: boolean; json: boolean }
  | { kind: 'start'; params: StartVmParams; console: boolean }
  | { kind: 'stop'; vm: VmRef | null; force: boolean; wait: boolean };

/** A whole command line: the global `-v` and the command. */
export interface Invocation {
  verbose: boolean;
  command: CtlCommand;
}

/** One command's parser: the words after the command name, and the name it was given as. */
type CommandParser = (ctx: ParseContext, words: readonly string[], name: CommandName) => CtlCommand;

/**
 * The VM named by the single operand of `command`: its usage unless there is exactly one,
 * `invalid id` unless it is an id or a VM name. (vmctl sends any name and lets vmd say that
 * no VM has it; the protocol carries only valid names, and no VM has another.)
 */
function oneVm(ctx: ParseContext, command: CommandName, operands: readonly string[]): VmRef {
  const [word] = operands;
  if (word === undefined || operands.length !== 1) throw commandUsage(ctx.prog, command);
  const vm = parseVmRef(ctx, word);
  if (vm === null || ('name' in vm && !isValidVmName(vm.name))) {
    throw fatal(ctx.prog, `invalid id: ${word}`);
  }
  return vm;
}

/** The format of a new image: its prefix, else its extension, else raw (parse_disktype). */
function newImageFormat(word: string): { path: string; format: DiskFormat } {
  const { format, path } = parseDiskArgument(word);
  if (format !== undefined) return { path, format };
  return { path, format: extname(path).toLowerCase() === '.qcow2' ? 'qcow2' : 'raw' };
}

const parseCreate: CommandParser = (ctx, words) => {
  const { options, operands } = commandGetopt(ctx, 'create', words, 'b:i:s:');
  let base: string | null = null;
  let input: string | null = null;
  let size: number | null = null;
  for (const { letter, value } of options) {
    if (letter === 'b') base = value;
    else if (letter === 'i') input = value;
    else size = parseMegabytes(ctx, value ?? '', 'disk');
  }
  const [word] = operands;
  if (word === undefined || operands.length !== 1) throw commandUsage(ctx.prog, 'create');
  const cwd = ctx.cwd ?? process.cwd();
  const { path, format } = newImageFormat(word);
  const target = resolve(cwd, path);
  if (input !== null) {
    if (base !== null) throw fatal(ctx.prog, 'conflicting -b and -i arguments');
    const source = parseDiskArgument(input);
    const prefix = source.format === undefined ? '' : `${source.format}:`;
    return {
      kind: 'create',
      path: target,
      format,
      base,
      size,
      input: prefix + resolve(cwd, source.path),
    };
  }
  if (base !== null && format !== 'qcow2') {
    throw fatal(ctx.prog, 'base images require qcow2 disk format');
  }
  if (size === null && base === null) {
    throw commandUsage(ctx.prog, 'create', `could not create ${path}: missing size argument\n`);
  }
  // The image records its base relative to its own folder (as qcow2 readers resolve it); a
  // relative -b names a file from here, so it is rewritten to lead there from that folder.
  const recorded =
    base === null || isAbsolute(base) ? base : relative(dirname(target), resolve(cwd, base));
  return { kind: 'create', path: target, format, base: recorded, size, input };
};

/** `status` and its other name `show`. */
const parseStatus: CommandParser = (ctx, words, name) => {
  const { options, operands } = commandGetopt(ctx, name, words, 'jr');
  const json = options.some((o) => o.letter === 'j');
  const runningOnly = options.some((o) => o.letter === 'r');
  if (operands.length > 1) throw commandUsage(ctx.prog, name);
  const vm = operands.length === 0 ? null : oneVm(ctx, name, operands);
  return { kind: 'status', json, runningOnly, vm };
};

const parseStop: CommandParser = (ctx, words) => {
  const { options, operands } = commandGetopt(ctx, 'stop', words, 'afw');
  const all = options.some((o) => o.letter === 'a');
  const force = options.some((o) => o.letter === 'f');
  const wait = options.some((o) => o.letter === 'w');
  if (all) {
    // -a and an id together are a usage error, as in vmctl.
    if (operands.length !== 0) throw commandUsage(ctx.prog, 'stop');
    return { kind: 'stop', vm: null, force, wait };
  }
  return { kind: 'stop', vm: oneVm(ctx, 'stop', operands), force, wait };
};

/** A command that takes one VM and no option. */
function vmCommand(kind: 'console' | 'pause' | 'unpause' | 'wait'): CommandParser {
  return (ctx, words) => ({ kind, vm: oneVm(ctx, kind, words) });
}

const parseLoad: CommandParser = (ctx, words) => {
  const [file] = words;
  if (file === undefined || words.length !== 1) throw commandUsage(ctx.prog, 'load');
  // vmd opens the file from its own directory: make the name mean what it means here.
  return { kind: 'load', path: resolve(ctx.cwd ?? process.cwd(), file) };
};

const parseLog: CommandParser = (ctx, words) => {
  const [level] = words;
  if (level === undefined || words.length !== 1 || level === '')
    throw commandUsage(ctx.prog, 'log');
  // strncasecmp on the word's length: any prefix of a level names it.
  if ('brief'.startsWith(level.toLowerCase())) return { kind: 'log', verbose: false };
  if ('verbose'.startsWith(level.toLowerCase())) return { kind: 'log', verbose: true };
  throw commandUsage(ctx.prog, 'log');
};

const parseReload: CommandParser = (ctx, words) => {
  if (words.length !== 0) throw commandUsage(ctx.prog, 'reload');
  return { kind: 'reload' };
};

const parseReset: CommandParser = (ctx, words) => {
  if (words.length > 1) throw commandUsage(ctx.prog, 'reset');
  const scope = (words[0] ?? 'all').toLowerCase();
  if (scope !== 'all' && scope !== 'vms' && scope !== 'switches') {
    throw commandUsage(ctx.prog, 'reset');
  }
  return { kind: 'reset', scope };
};

const PARSERS: Readonly<Record<CommandName, CommandParser>> = {
  console: vmCommand('console'),
  create: parseCreate,
  load: parseLoad,
  log: parseLog,
  pause: vmCommand('pause'),
  reload: parseReload,
  reset: parseReset,
  show: parseStatus,
  start: (ctx, words) => parseStart(ctx, words),
  status: parseStatus,
  stop: parseStop,
  unpause: vmCommand('unpause'),
  wait: vmCommand('wait'),
};

/** Parses `vmctl [-v] command [arg ...]` (`argv` without the program). */
export function parseInvocation(ctx: ParseContext, argv: readonly string[]): Invocation {
  let global: GetoptResult;
  try {
    global = getopt(argv, 'v');
  } catch (error) {
    if (!(error instanceof GetoptError)) throw error;
    throw usage(ctx.prog, `${ctx.prog}: ${error.message}\n`);
  }
  const [word, ...words] = global.operands;
  if (word === undefined) throw usage(ctx.prog);
  const name = findCommand(ctx.prog, word);
  const command = PARSERS[name](ctx, words, name);
  return { verbose: global.options.length > 0, command };
}
