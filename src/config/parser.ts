/**
 * The top level of vm.conf, after parse.y's `grammar`, `include`, `varset` and `main` rules
 * and the `switch` block; `vm` blocks are in vm.ts. Every statement ends with a newline.
 */

import { resolve } from 'node:path';
import { guarded, parseBlock, parseOwner, type Context } from './context.js';
import type { Keyword, Token } from './lexer.js';
import { checkReferences } from './register.js';
import { LIMITS, DEFAULT_AGENTX_PATH, type SwitchConfig } from './types.js';
import {
  errnoText,
  isValidGroupName,
  isValidIfName,
  parsePrefix4,
  parsePrefix6,
} from './validate.js';
import { parseVm } from './vm.js';

/** Parses statements until the end of the input, then checks what spans statements. */
export function parseStatements(ctx: Context): void {
  const { tokens } = ctx;
  for (let token = tokens.peek(); token.kind !== 'eof'; token = tokens.peek()) {
    if (token.kind === 'newline') {
      tokens.next();
      continue;
    }
    guarded(tokens, false, () => {
      statement(ctx, token);
    });
  }
  checkReferences(ctx);
}

/** The statements that start with a keyword. */
const STATEMENTS: Partial<Record<Keyword, (ctx: Context) => void>> = {
  include,
  local,
  socket: socketOwner,
  agentx,
  staggered,
  switch: parseSwitch,
  vm: parseVm,
};

function statement(ctx: Context, token: Token): void {
  const { tokens } = ctx;
  const parse = token.kind === 'keyword' ? STATEMENTS[token.keyword] : undefined;
  if (parse !== undefined) {
    parse(ctx);
  } else if (token.kind === 'string' && tokens.isChar(tokens.peek(1), '=')) {
    macro(ctx);
  } else {
    tokens.fail(tokens.next(), true);
  }
}

/** `include "file"`: the file's statements follow, read relative to the working directory. */
function include(ctx: Context): void {
  const { tokens, diag } = ctx;
  tokens.next();
  const name = tokens.strings();
  tokens.endOfLine();
  const path = resolve(ctx.cwd, name.value);
  if (ctx.lexer.isOpen(path)) {
    diag.error(name.where, `failed to include file ${name.value}: include loop`);
    return;
  }
  let text: string;
  try {
    text = ctx.hooks.readFile(path);
  } catch (error) {
    diag.error(name.where, `failed to include file ${name.value}: ${errnoText(error)}`);
    return;
  }
  if (!tokens.drained) throw new Error('vm.conf: include with tokens read ahead');
  ctx.lexer.pushFile(name.value, path, text);
}

/** `name = "value"`: a macro, unless `-D` defined the name. */
function macro(ctx: Context): void {
  const { tokens } = ctx;
  const name = tokens.string();
  tokens.char('=');
  const value = tokens.string();
  if (/\s/.test(name.value)) {
    ctx.diag.error(name.where, 'macro name cannot contain whitespace');
  } else {
    ctx.macros.define(name.value, value.value, false, name.where);
  }
  tokens.endOfLine();
}

/** `local prefix a.b.c.d/len`, `local inet6`, `local inet6 prefix x::/len`. */
function local(ctx: Context): void {
  const { tokens, diag } = ctx;
  const settings = ctx.config.global;
  tokens.next();
  const what = tokens.next();
  if (tokens.isKeyword(what, 'inet6')) {
    if (tokens.isKeyword(tokens.peek(), 'prefix')) {
      tokens.next();
      const text = tokens.string();
      const prefix = parsePrefix6(text.value);
      if (typeof prefix === 'string') {
        diag.error(text.where, `invalid local inet6 prefix: ${prefix}`);
      } else {
        settings.localInet6 = true;
        settings.localPrefix6 = prefix;
      }
    } else {
      settings.localInet6 = true;
    }
  } else if (tokens.isKeyword(what, 'prefix')) {
    const text = tokens.string();
    const prefix = parsePrefix4(text.value);
    if (typeof prefix === 'string') diag.error(text.where, `invalid local prefix: ${prefix}`);
    else settings.localPrefix = prefix;
  } else {
    tokens.fail(what);
  }
  tokens.endOfLine();
}

/** `socket owner user[:group]`: a missing group means group 0, as vmd does. */
function socketOwner(ctx: Context): void {
  const { tokens } = ctx;
  tokens.next();
  tokens.keyword('owner');
  const owner = parseOwner(ctx);
  if (owner !== null) ctx.config.global.socketOwner = { uid: owner.uid, gid: owner.gid ?? 0 };
  tokens.endOfLine();
}

/** `agentx [context name] [path /socket]`, options in any order and number. */
function agentx(ctx: Context): void {
  const { tokens, diag } = ctx;
  tokens.next();
  const ax = (ctx.config.global.agentx ??= { context: null, path: DEFAULT_AGENTX_PATH });
  for (let token = tokens.peek(); ; token = tokens.peek()) {
    if (tokens.isKeyword(token, 'context')) {
      tokens.next();
      const context = tokens.string();
      if (context.value.length > LIMITS.maxAgentxContext) {
        diag.error(context.where, 'agentx context too large');
      } else {
        ax.context = context.value;
      }
    } else if (tokens.isKeyword(token, 'path')) {
      tokens.next();
      const path = tokens.string();
      if (path.value.length >= LIMITS.sunPathLength) {
        diag.error(path.where, 'agentx path too large');
      } else if (!path.value.startsWith('/')) {
        diag.error(path.where, 'agentx path is not absolute');
      } else {
        ax.path = path.value;
      }
    } else {
      break;
    }
  }
  tokens.endOfLine();
}

/** `staggered start parallel N delay S`. */
function staggered(ctx: Context): void {
  const { tokens, diag } = ctx;
  tokens.next();
  tokens.keyword('start');
  tokens.keyword('parallel');
  const parallel = tokens.number();
  tokens.keyword('delay');
  const delay = tokens.number();
  if (parallel.value < 1) {
    diag.error(parallel.where, `invalid staggered start parallelism: ${parallel.value}`);
  } else if (delay.value < 0) {
    diag.error(delay.where, `invalid staggered start delay: ${delay.value}`);
  } else {
    ctx.config.global.staggeredStart = { parallel: parallel.value, delay: delay.value };
  }
  tokens.endOfLine();
}

/** `switch "name" { ... }`. */
function parseSwitch(ctx: Context): void {
  const { tokens, diag } = ctx;
  const keyword = tokens.next();
  const name = tokens.strings();
  const location = { file: keyword.file, line: keyword.line };
  const sw: SwitchConfig = {
    name: name.value,
    enabled: true,
    interface: '',
    group: null,
    lockedLladdr: false,
    rdomain: null,
    up: true,
    location,
  };
  const errors = diag.errors.length;
  tokens.char('{');
  parseBlock(tokens, (first) => {
    switchOption(ctx, sw, first);
  });
  if (diag.errors.length > errors) {
    // As parse.y's YYERROR, an error in the block drops the switch.
  } else if (sw.interface === '') {
    diag.error(location, `switch "${sw.name}" is missing interface name`);
  } else if (ctx.config.switches.some((other) => other.name === sw.name)) {
    diag.error(location, `switch "${sw.name}" failed: already exists`);
  } else {
    ctx.config.switches.push(sw);
  }
  tokens.endOfLine();
}

function switchOption(ctx: Context, sw: SwitchConfig, first: Token): void {
  const { tokens, diag } = ctx;
  const keyword = first.kind === 'keyword' ? first.keyword : null;
  switch (keyword) {
    case 'enable':
    case 'disable':
      tokens.next();
      sw.enabled = keyword === 'enable';
      return;
    case 'up':
    case 'down':
      tokens.next();
      sw.up = keyword === 'up';
      return;
    case 'group': {
      tokens.next();
      const group = tokens.strings();
      if (!isValidGroupName(group.value))
        diag.error(group.where, `invalid group name: ${group.value}`);
      else sw.group = group.value;
      return;
    }
    case 'interface': {
      tokens.next();
      const ifname = tokens.strings();
      if (!isValidIfName(ifname.value)) {
        diag.error(ifname.where, `invalid switch interface: ${ifname.value}`);
      } else if (ifname.value.length >= LIMITS.ifNameSize) {
        diag.error(ifname.where, `switch interface too long: ${ifname.value}`);
      } else {
        sw.interface = ifname.value;
      }
      return;
    }
    case 'locked':
      tokens.next();
      tokens.keyword('lladdr');
      sw.lockedLladdr = true;
      return;
    case 'rdomain': {
      tokens.next();
      const rdomain = tokens.number();
      if (rdomain.value < 0 || rdomain.value > LIMITS.maxRdomain) {
        diag.error(rdomain.where, `invalid rdomain: ${rdomain.value}`);
      } else {
        sw.rdomain = rdomain.value;
      }
      return;
    }
    default:
      tokens.fail(tokens.next(), true);
  }
}
