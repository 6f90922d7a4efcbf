/**
 * `vmctl start [-cL] [-B device] [-b path] [-C cmdline] [-d disk] [-I initrd] [-i count]
 * [-m size] [-n switch] [-r path] [-t name] id | name`: the options as main.c's `ctl_start`
 * reads them (image paths made canonical with realpath(3) as they are read) and the checks of
 * vmctl.c's `vm_start`, with vmctl's messages. `-C` and `-I` are this port's, for Linux
 * kernels booted directly.
 */

import { closeSync, fstatSync, openSync, realpathSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseDiskArgument } from '../block/index.js';
import { defaultProbeDiskFormat } from '../config/host.js';
import { LIMITS, type BootDevice, type DiskConfig, type DiskFormat } from '../config/types.js';
import { isValidVmName } from '../config/validate.js';
import type { StartInterface, StartVmParams } from '../daemon/messages.js';
import type { CtlCommand } from './args.js';
import { commandGetopt, parseMegabytes, parseVmRef, type ParseContext } from './parse_common.js';
import { commandUsage } from './commands.js';
import { fatal, fatalErrno } from './errors.js';

/** Linux's COMMAND_LINE_SIZE on x86: a command line is shorter than this. */
const CMDLINE_SIZE = 2048;

/** What the options of `start` gave, before the checks that look at all of them. */
interface StartOptions {
  console: boolean;
  boot: string | null;
  bootDevice: BootDevice | null;
  cdrom: string | null;
  initrd: string | null;
  cmdline: string | null;
  memory: number | null;
  disks: DiskConfig[];
  locals: number;
  switches: (string | null)[];
  count: number | null;
  template: string | null;
}

/** realpath(3) of `path` (relative to the context's directory); err(3) with `message`. */
function canonical(ctx: ParseContext, path: string, message: string): string {
  try {
    return realpathSync.native(resolve(ctx.cwd ?? process.cwd(), path));
  } catch (error) {
    throw fatalErrno(ctx.prog, message, error);
  }
}

/** parse_disktype: the prefix, else the qcow2 magic, else the extension, else raw. */
function diskFormat(ctx: ParseContext, arg: string): DiskConfig {
  const { format, path } = parseDiskArgument(arg);
  const absolute = resolve(ctx.cwd ?? process.cwd(), path);
  let found: DiskFormat = format ?? defaultProbeDiskFormat(absolute);
  if (format === undefined && found === 'raw' && extname(path).toLowerCase() === '.qcow2') {
    found = 'qcow2';
  }
  return { path: canonical(ctx, path, `invalid disk path: ${path}`), format: found };
}

/** strtonum(3) for `-i`: a count from 1 to INT_MAX, with its diagnostics. */
function interfaceCount(ctx: ParseContext, word: string): number {
  const value = /^[-+]?[0-9]+$/.test(word.trim()) ? Number(word) : Number.NaN;
  const problem = Number.isNaN(value)
    ? 'invalid'
    : value < 1
      ? 'too small'
      : value > 0x7fffffff
        ? 'too large'
        : null;
  if (problem === null) return value;
  ctx.warn(`count is ${problem}: ${word}`);
  throw fatal(ctx.prog, `invalid interface count: ${word}`);
}

/** Reads the options in order, failing at the first bad one as getopt's loop does. */
function readOptions(ctx: ParseContext, options: { letter: string; value: string | null }[]) {
  const o: StartOptions = {
    console: false,
    boot: null,
    bootDevice: null,
    cdrom: null,
    initrd: null,
    cmdline: null,
    memory: null,
    disks: [],
    locals: 0,
    switches: [],
    count: null,
    template: null,
  };
  const once = (set: boolean, what: string): void => {
    if (set) throw fatal(ctx.prog, `${what} specified multiple times`);
  };
  for (const { letter, value: optionValue } of options) {
    const value = optionValue ?? '';
    switch (letter) {
      case 'b':
        once(o.boot !== null, 'boot image');
        o.boot = canonical(ctx, value, 'invalid boot image path');
        break;
      case 'B':
        once(o.bootDevice !== null, 'boot device');
        if (value !== 'disk' && value !== 'cdrom' && value !== 'net') {
          throw fatal(ctx.prog, `unknown boot device ${value}`);
        }
        o.bootDevice = value;
        break;
      case 'r':
        once(o.cdrom !== null, 'iso image');
        o.cdrom = canonical(ctx, value, `invalid iso image path: ${value}`);
        break;
      case 'c':
        o.console = true;
        break;
      case 'L':
        o.locals++;
        break;
      case 'm':
        once(o.memory !== null, 'memory');
        o.memory = parseMegabytes(ctx, value, 'memory');
        break;
      case 'n':
        // eslint-disable-next-line no-control-regex -- control characters are what is refused
        if (/[\x00-\x1f\x7f]/.test(value)) throw fatal(ctx.prog, `invalid network: ${value}`);
        o.switches.push(value === '' ? null : value);
        break;
      case 'd':
        o.disks.push(diskFormat(ctx, value));
        break;
      case 'i':
        once(o.count !== null, 'interfaces');
        o.count = interfaceCount(ctx, value);
        break;
      case 't':
        if (value.length >= LIMITS.maxNameLength) ctx.warn('instance vm name too long');
        if (value.length >= LIMITS.maxNameLength || !isValidVmName(value)) {
          throw fatal(ctx.prog, `invalid name: ${value}`);
        }
        o.template = value;
        break;
      case 'C':
        once(o.cmdline !== null, 'command line');
        if (value.length >= CMDLINE_SIZE) throw fatal(ctx.prog, 'command line too long');
        o.cmdline = value;
        break;
      case 'I':
        once(o.initrd !== null, 'initrd');
        o.initrd = canonical(ctx, value, `invalid initrd path: ${value}`);
        break;
    }
  }
  return o;
}

/** vm_start: a kernel (or initrd) must be a regular file this user can read. */
function checkReadableFile(ctx: ParseContext, path: string, what: 'kernel' | 'initrd'): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw fatalErrno(ctx.prog, `cannot open ${what} '${path}'`, error);
  }
  try {
    if (!fstatSync(fd).isFile()) throw fatal(ctx.prog, `${what} must be a regular file`);
  } finally {
    closeSync(fd);
  }
}

/**
 * vm_start's checks of a VM to be created from options, with vmctl's warnings. As in vmctl,
 * any setting but the boot device makes the VM count as new; this port's `-C` and `-I` do
 * not, because like `-b` they may change how a VM of vm.conf boots, for one boot.
 */
function checkNewVm(ctx: ParseContext, o: StartOptions, nics: number): void {
  const settings =
    o.memory !== null || nics > 0 || o.disks.length > 0 || o.boot !== null || o.cdrom !== null;
  // An instance takes what it lacks from its template, which vmd checks.
  if (o.template !== null || !settings) return;
  if (o.boot === null && o.disks.length === 0) {
    ctx.warn('starting without disks');
    if (o.cdrom === null) throw fatal(ctx.prog, 'no kernel or disk/cdrom specified');
  }
  if (o.boot === null && (o.initrd !== null || o.cmdline !== null)) {
    throw fatal(ctx.prog, 'an initrd or a command line needs a kernel (-b)');
  }
  if (o.boot === null && nics === 0) ctx.warn('starting without network interfaces');
}

/** Parses the words after `start`. */
export function parseStart(ctx: ParseContext, words: readonly string[]): CtlCommand {
  const { options, operands } = commandGetopt(ctx, 'start', words, 'b:B:cC:d:I:i:Lm:n:r:t:');
  const o = readOptions(ctx, options);
  const [word] = operands;
  if (word === undefined || operands.length !== 1) throw commandUsage(ctx.prog, 'start');
  const vm = parseVmRef(ctx, word);
  if (vm === null) throw fatal(ctx.prog, `invalid id: ${word}`);

  // Local interfaces come first (vmctl(8) -L), then those on switches.
  const interfaces: StartInterface[] = [
    ...Array.from({ length: o.locals }, () => ({ local: true, switch: null })),
    ...o.switches.map((name) => ({ local: false, switch: name })),
  ];
  const nics = Math.max(interfaces.length, o.count ?? 0);
  // The protocol carries at most four of each, whether or not vmd would look at them.
  if (o.disks.length > LIMITS.maxDisks) throw fatal(ctx.prog, 'too many disks');
  if (nics > LIMITS.maxInterfaces) throw fatal(ctx.prog, 'too many network interfaces');
  checkNewVm(ctx, o, nics);
  if ('name' in vm && !isValidVmName(vm.name)) throw fatal(ctx.prog, 'invalid VM name');
  if (o.switches.some((name) => name !== null && name.length >= LIMITS.maxSwitchNameLength)) {
    throw fatal(ctx.prog, 'interface name too long');
  }
  if (o.boot !== null) checkReadableFile(ctx, o.boot, 'kernel');
  if (o.initrd !== null) checkReadableFile(ctx, o.initrd, 'initrd');

  const params: StartVmParams = {
    vm,
    memory: o.memory,
    boot: o.boot,
    bootDevice: o.bootDevice,
    initrd: o.initrd,
    cmdline: o.cmdline,
    cdrom: o.cdrom,
    disks: o.disks,
    interfaces,
    interfaceCount: o.count,
    template: o.template,
  };
  return { kind: 'start', params, console: o.console };
}
