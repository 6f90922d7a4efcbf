/**
 * `vm "name" { ... }` and `vm "parent" instance "name" { ... }`, after parse.y's `vm`,
 * `vm_opts`, `iface_opts` and `instance` rules, with parse_size and parse_disk; and this
 * port's `initrd` and `cmdline` for Linux kernels, which follow `boot path`.
 */

import { resolve } from 'node:path';
import { parseSize } from '../common/size.js';
import { guarded, parseBlock, parseOwner, type Context, type Located } from './context.js';
import type { Token } from './lexer.js';
import { registerVm } from './register.js';
import {
  LIMITS,
  newVmConfig,
  type DiskFormat,
  type VmConfig,
  type VmInterfaceConfig,
} from './types.js';
import { errnoText, isValidGroupName, isValidTapName, parseLladdr } from './validate.js';

/** Per-block state that is not part of the result. */
interface VmState {
  /** Interfaces declared so far, counting refused ones (parse.y's vmc_nnics). */
  nics: number;
}

/** Parses a `vm` statement and registers the VM. */
export function parseVm(ctx: Context): void {
  const { tokens, diag } = ctx;
  const keyword = tokens.next();
  const location = { file: keyword.file, line: keyword.line };
  let name = tokens.strings();
  let parent: Located<string> | null = null;
  if (tokens.isKeyword(tokens.peek(), 'instance')) {
    tokens.next();
    parent = name;
    name = tokens.strings();
  }
  let named = true;
  if (parent !== null && parent.value.length >= LIMITS.maxNameLength) {
    diag.error(parent.where, `vm ${parent.value} name too long`);
    named = false;
  } else if (name.value.length >= LIMITS.maxNameLength) {
    diag.error(name.where, 'vm name too long');
    named = false;
  }
  const vm: VmConfig = { ...newVmConfig(name.value, location), parent: parent?.value ?? null };
  const state: VmState = { nics: 0 };
  const errors = diag.errors.length;
  tokens.char('{');
  parseBlock(tokens, (first) => {
    vmOption(ctx, vm, state, first);
  });
  // As parse.y's YYERROR, an error in the block drops the VM: registration is not tried.
  if (named && diag.errors.length === errors) registerVm(ctx, vm);
  tokens.endOfLine();
}

function vmOption(ctx: Context, vm: VmConfig, state: VmState, first: Token): void {
  const { tokens, diag } = ctx;
  const keyword = first.kind === 'keyword' ? first.keyword : null;
  switch (keyword) {
    case 'enable':
    case 'disable':
      tokens.next();
      vm.enabled = keyword === 'enable';
      return;
    case 'sev':
      tokens.next();
      vm.sev = true;
      return;
    case 'seves':
      tokens.next();
      vm.sev = vm.sevEs = true;
      return;
    case 'disk':
      tokens.next();
      disk(ctx, vm);
      return;
    case 'local':
      tokens.next();
      tokens.keyword('interface');
      iface(ctx, vm, state, true, first);
      return;
    case 'interface':
      tokens.next();
      iface(ctx, vm, state, false, first);
      return;
    case 'boot':
      tokens.next();
      boot(ctx, vm);
      return;
    case 'initrd':
      tokens.next();
      vm.initrd = realpathOnce(ctx, tokens.strings(), vm.initrd, 'initrd');
      return;
    case 'cmdline': {
      tokens.next();
      const cmdline = tokens.strings();
      if (vm.cmdline !== null) diag.error(cmdline.where, 'cmdline specified more than once');
      else if (cmdline.value.length >= LIMITS.cmdlineSize)
        diag.error(cmdline.where, 'cmdline too long');
      else vm.cmdline = cmdline.value;
      return;
    }
    case 'cdrom': {
      tokens.next();
      const cdrom = tokens.strings();
      if (vm.cdrom !== null) diag.error(cdrom.where, 'cdrom specified more than once');
      else if (cdrom.value.length >= LIMITS.pathMax) diag.error(cdrom.where, 'cdrom name too long');
      else vm.cdrom = cdrom.value;
      return;
    }
    case 'interfaces': {
      tokens.next();
      const count = tokens.number();
      if (vm.interfaceCount !== null && vm.interfaceCount !== 0) {
        diag.error(count.where, 'interfaces specified more than once');
      } else if (count.value < 0 || count.value > LIMITS.maxInterfaces) {
        diag.error(count.where, `too many interfaces: ${count.value}`);
      } else {
        vm.interfaceCount = count.value;
      }
      return;
    }
    case 'memory':
      tokens.next();
      memory(ctx, vm);
      return;
    case 'owner': {
      tokens.next();
      const owner = parseOwner(ctx);
      if (owner !== null) vm.owner = owner;
      return;
    }
    case 'allow':
      tokens.next();
      tokens.keyword('instance');
      allowInstance(ctx, vm);
      return;
    default:
      tokens.fail(tokens.next(), true);
  }
}

/** `memory N` (bytes) or `memory 1G` (scan_scaled), as parse_size checks and rounds it. */
function memory(ctx: Context, vm: VmConfig): void {
  const { tokens, diag } = ctx;
  const token = tokens.next();
  let text: string;
  let bytes: number;
  if (token.kind === 'number') {
    text = token.text;
    bytes = token.value;
  } else if (token.kind === 'string') {
    text = token.value;
    try {
      bytes = parseSize(text);
    } catch (error) {
      const why = /too large/.test(String(error)) ? 'memory size too large' : 'invalid memory size';
      diag.error(token, `failed to parse size: ${text}: ${why}`);
      return;
    }
  } else {
    ctx.tokens.fail(token);
  }
  const fail = (why: string): void => {
    diag.error(token, `failed to parse size: ${text}: ${why}`);
  };
  if (vm.memory !== null) diag.error(token, 'memory specified more than once');
  else if (bytes < LIMITS.minMemory) fail('memory size must be at least 1MB');
  else if (bytes > LIMITS.maxMemory) fail('memory size too large (limit is 128G)');
  else vm.memory = Math.floor(bytes / LIMITS.minMemory) * LIMITS.minMemory;
}

/** `disk path [format raw|qcow2]`, with parse_disk's limit, realpath and sniffing. */
function disk(ctx: Context, vm: VmConfig): void {
  const { tokens, diag, hooks } = ctx;
  const path = tokens.strings();
  let format: DiskFormat | null = null;
  if (tokens.isKeyword(tokens.peek(), 'format')) {
    tokens.next();
    const name = tokens.strings();
    const lower = name.value.toLowerCase();
    if (lower !== 'raw' && lower !== 'qcow2') {
      diag.error(name.where, `unrecognized disk format ${name.value}`);
      return;
    }
    format = lower;
  }
  const fail = (why: string): void => {
    diag.error(path.where, `failed to parse disks: ${path.value}: ${why}`);
  };
  if (vm.disks.length >= LIMITS.maxDisks) {
    fail('too many disks');
    return;
  }
  let real: string;
  try {
    real = hooks.realpath(resolve(ctx.cwd, path.value));
  } catch (error) {
    fail(errnoText(error));
    return;
  }
  if (real.length >= LIMITS.pathMax) {
    fail('disk path too long');
    return;
  }
  vm.disks.push({ path: real, format: format ?? hooks.probeDiskFormat(real) });
}

/** `boot path` (realpath'd once) or `boot device disk|cdrom|net`. */
function boot(ctx: Context, vm: VmConfig): void {
  const { tokens } = ctx;
  if (tokens.isKeyword(tokens.peek(), 'device')) {
    tokens.next();
    const device = tokens.next();
    if (device.kind !== 'keyword') ctx.tokens.fail(device);
    const { keyword } = device;
    if (keyword !== 'disk' && keyword !== 'cdrom' && keyword !== 'net') ctx.tokens.fail(device);
    vm.bootDevice = keyword;
    return;
  }
  vm.boot = realpathOnce(ctx, tokens.strings(), vm.boot, 'kernel');
}

/**
 * A file a block names once, `boot path` and (Linux) `initrd path`: the realpath(3) of `path`,
 * or null when it cannot be resolved; `given` is what the block named before, kept after the
 * error that it is named again.
 */
function realpathOnce(
  ctx: Context,
  path: Located<string>,
  given: string | null,
  what: 'kernel' | 'initrd',
): string | null {
  if (given !== null) {
    ctx.diag.error(path.where, `${what} specified more than once`);
    return given;
  }
  try {
    return ctx.hooks.realpath(resolve(ctx.cwd, path.value));
  } catch (error) {
    ctx.diag.error(path.where, `${what} path not found: ${errnoText(error)}`);
    return null;
  }
}

const IFACE_OPTIONS = ['switch', 'group', 'locked', 'lladdr', 'rdomain', 'up', 'down'] as const;

/**
 * `[local] interface [name] [options]`: options in braces (one or more, newlines optional) or
 * inline (commas optional).
 */
function iface(ctx: Context, vm: VmConfig, state: VmState, local: boolean, at: Token): void {
  const { tokens, diag } = ctx;
  const nic: VmInterfaceConfig = {
    local,
    name: null,
    switch: null,
    group: null,
    lladdr: null,
    locked: false,
    rdomain: null,
    up: true,
  };
  const name = tokens.peek().kind === 'string' ? tokens.string() : null;
  if (tokens.isChar(tokens.peek(), '{')) {
    tokens.next();
    tokens.skipNewlines();
    for (;;) {
      guarded(tokens, true, () => {
        ifaceOption(ctx, nic, true);
      });
      tokens.skipNewlines();
      const token = tokens.peek();
      if (tokens.isChar(token, '}')) break;
      if (token.kind === 'eof') tokens.fail(token);
    }
    tokens.next();
  } else {
    while (tokens.isKeyword(tokens.peek(), ...IFACE_OPTIONS)) {
      ifaceOption(ctx, nic, false);
      if (tokens.isChar(tokens.peek(), ',')) tokens.next();
    }
  }
  if (++state.nics > LIMITS.maxInterfaces) {
    diag.error(at, `too many interfaces: ${state.nics}`);
    return;
  }
  if (name !== null) {
    if (!isValidTapName(name.value)) {
      diag.error(name.where, `invalid interface: ${name.value}`);
      return;
    }
    if (name.value.length >= LIMITS.ifNameSize) {
      diag.error(name.where, `interface name too long: ${name.value}`);
      return;
    }
    nic.name = name.value;
  }
  vm.interfaces.push(nic);
}

function ifaceOption(ctx: Context, nic: VmInterfaceConfig, inBraces: boolean): void {
  const { tokens, diag } = ctx;
  const token = tokens.next();
  const keyword = token.kind === 'keyword' ? token.keyword : null;
  switch (keyword) {
    case 'switch': {
      const sw = tokens.strings();
      if (sw.value.length >= LIMITS.maxSwitchNameLength) {
        diag.error(sw.where, `switch name too long: ${sw.value}`);
      } else {
        nic.switch = sw.value;
      }
      return;
    }
    case 'group': {
      const group = tokens.strings();
      if (!isValidGroupName(group.value))
        diag.error(group.where, `invalid group name: ${group.value}`);
      else nic.group = group.value;
      return;
    }
    case 'locked':
    case 'lladdr': {
      if (keyword === 'locked') tokens.keyword('lladdr');
      const text = tokens.peek().kind === 'string' ? tokens.string() : null;
      const mac = text === null ? '00:00:00:00:00:00' : parseLladdr(text.value);
      if (text !== null && mac === null) {
        diag.error(text.where, `invalid address: ${text.value}`);
        return;
      }
      nic.locked = keyword === 'locked';
      nic.lladdr = mac === '00:00:00:00:00:00' ? null : mac;
      return;
    }
    case 'rdomain': {
      const rdomain = tokens.number();
      if (rdomain.value < 0 || rdomain.value > LIMITS.maxRdomain) {
        diag.error(rdomain.where, `invalid rdomain: ${rdomain.value}`);
      } else {
        nic.rdomain = rdomain.value;
      }
      return;
    }
    case 'up':
    case 'down':
      nic.up = keyword === 'up';
      return;
    default:
      tokens.fail(token, inBraces);
  }
}

const INSTANCE_FLAGS = ['boot', 'cdrom', 'disk', 'instance', 'interface', 'memory'] as const;

/** `allow instance FLAG` or `allow instance { FLAG, FLAG\n FLAG }`; the flags accumulate. */
function allowInstance(ctx: Context, vm: VmConfig): void {
  const { tokens } = ctx;
  if (!tokens.isChar(tokens.peek(), '{')) {
    instanceFlag(ctx, vm);
    return;
  }
  tokens.next();
  tokens.skipNewlines();
  for (;;) {
    guarded(tokens, true, () => {
      instanceFlag(ctx, vm);
      const token = tokens.peek();
      if (tokens.isChar(token, ',')) {
        tokens.next();
        tokens.skipNewlines();
        if (tokens.isChar(tokens.peek(), '}')) tokens.fail(tokens.peek());
      } else if (token.kind !== 'newline' && !tokens.isChar(token, '}')) {
        tokens.fail(token);
      }
    });
    tokens.skipNewlines();
    const token = tokens.peek();
    if (tokens.isChar(token, '}')) break;
    if (token.kind === 'eof') tokens.fail(token);
  }
  tokens.next();
}

function instanceFlag(ctx: Context, vm: VmConfig): void {
  const { tokens } = ctx;
  const token = tokens.next();
  if (tokens.isKeyword(token, 'owner')) {
    const owner = parseOwner(ctx);
    if (owner !== null) vm.allowInstance.owner = owner;
    return;
  }
  const flag = INSTANCE_FLAGS.find((f) => tokens.isKeyword(token, f));
  if (flag === undefined) ctx.tokens.fail(token, true);
  vm.allowInstance[flag] = true;
}
