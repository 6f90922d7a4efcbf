/**
 * vm.conf(5): parse a configuration file into a typed {@link VmdConfig}, with every error
 * reported as `file:line: message` in OpenBSD vmd's words.
 *
 * ```ts
 * const { config, errors, warnings } = parseConfig('/etc/vm.conf', { macros: { disk: 'a.img' } });
 * if (errors.length > 0) console.error(formatErrors(errors));
 * ```
 */

import { resolve } from 'node:path';
import { Diagnostics, TokenStream, type Context, type Hooks } from './context.js';
import { accountLookup, defaultProbeDiskFormat, defaultReadFile, defaultRealpath } from './host.js';
import { Lexer } from './lexer.js';
import { MacroTable } from './macros.js';
import { parseStatements } from './parser.js';
import {
  DEFAULT_LOCAL_PREFIX,
  type Diagnostic,
  type ParseOptions,
  type ParseResult,
  type VmdConfig,
} from './types.js';
import { errnoText } from './validate.js';

export * from './types.js';
export { parseMacroDefinition } from './macros.js';

/** The configuration of an empty vm.conf: vmd's defaults. */
export function defaultConfig(): VmdConfig {
  return {
    global: {
      localPrefix: { ...DEFAULT_LOCAL_PREFIX },
      localInet6: false,
      localPrefix6: null,
      socketOwner: { uid: 0, gid: 0 },
      agentx: null,
      staggeredStart: null,
    },
    switches: [],
    vms: [],
  };
}

/**
 * Parses the vm.conf at `path` (relative to `options.cwd`) and the files it includes.
 * Parsing goes on after errors, so `errors` lists every one; `config` holds what parsed and
 * is only to be used when `errors` is empty. A file that cannot be read is one error without
 * a line.
 */
export function parseConfig(path: string, options: ParseOptions = {}): ParseResult {
  const cwd = options.cwd ?? process.cwd();
  const readFile = options.readFile ?? defaultReadFile;
  const hooks: Hooks = {
    readFile,
    realpath: options.realpath ?? defaultRealpath,
    probeDiskFormat: options.probeDiskFormat ?? defaultProbeDiskFormat,
    resolveUser: options.resolveUser ?? accountLookup('/etc/passwd'),
    resolveGroup: options.resolveGroup ?? accountLookup('/etc/group'),
  };
  const diag = new Diagnostics();
  const config = defaultConfig();
  const absolute = resolve(cwd, path);
  let text: string;
  try {
    text = readFile(absolute);
  } catch (error) {
    diag.errors.push({
      file: null,
      line: 0,
      message: `failed to open ${path}: ${errnoText(error)}`,
      severity: 'error',
    });
    return { config, errors: diag.errors, warnings: diag.warnings };
  }
  const macros = new MacroTable();
  for (const [name, value] of Object.entries(options.macros ?? {})) {
    macros.define(name, value, true);
  }
  const lexer = new Lexer(macros, (where, message) => {
    diag.error(where, message);
  });
  lexer.pushFile(path, absolute, text);
  const ctx: Context = {
    tokens: new TokenStream(lexer, diag),
    diag,
    hooks,
    lexer,
    macros,
    cwd,
    config,
  };
  parseStatements(ctx);
  return { config, errors: diag.errors, warnings: diag.warnings };
}

/**
 * Parses vm.conf text held in memory, named `name` in diagnostics (`vm.conf` by default);
 * includes are read through `options.readFile` as usual.
 */
export function parseConfigText(
  text: string,
  options: ParseOptions & { name?: string } = {},
): ParseResult {
  const name = options.name ?? 'vm.conf';
  const top = resolve(options.cwd ?? process.cwd(), name);
  const readFile = options.readFile ?? defaultReadFile;
  return parseConfig(name, { ...options, readFile: (p) => (p === top ? text : readFile(p)) });
}

/** One diagnostic as vmd prints it: `file:line: message`, warnings marked `warning:`. */
export function formatDiagnostic(d: Diagnostic): string {
  const text = d.severity === 'warning' ? `warning: ${d.message}` : d.message;
  return d.file === null ? text : `${d.file}:${d.line}: ${text}`;
}

/** Diagnostics one per line, in order, without a final newline. */
export function formatErrors(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map(formatDiagnostic).join('\n');
}
