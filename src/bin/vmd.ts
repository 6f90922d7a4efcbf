#!/usr/bin/env node
/**
 * vmd(8): `vmd [-dnv] [-D macro=value] [-f file]`. With `-n` it checks the configuration and
 * exits; otherwise it runs the daemon (src/daemon/parent.ts) in the foreground, logging to
 * standard error (with journald priorities when that is the journal), until SIGTERM or SIGINT.
 * vmd never detaches itself: systemd (Type=simple) or the shell keeps it, so `-d` changes
 * nothing and is accepted as OpenBSD's vmd takes it.
 */

import { fail, parseCommandLine } from '../common/cli.js';
import { initLog, log, setVerbosity } from '../common/log.js';
import { formatDiagnostic, parseMacroDefinition } from '../config/index.js';
import { daemonSocketPath, DEFAULT_CONFIG } from '../daemon/paths.js';
import { readConfig, Vmd } from '../daemon/parent.js';

const PROG = 'vmd';
const USAGE = 'usage: vmd [-dnv] [-D macro=value] [-f file]';

/** vmd's -D: each `name=value`; a malformed one is warned about and skipped, as vmd does. */
function macrosOf(definitions: readonly string[]): Record<string, string> {
  const macros: Record<string, string> = {};
  for (const definition of definitions) {
    const macro = parseMacroDefinition(definition);
    if (macro === null || macro.name === '') {
      log.warn('could not parse macro definition %s', definition);
      continue;
    }
    macros[macro.name] = macro.value;
  }
  return macros;
}

/** `vmd -n`: every diagnostic on standard error, then "configuration OK" or status 1. */
function checkConfig(path: string, macros: Record<string, string>): never {
  const { errors, warnings } = readConfig(path, macros);
  for (const diagnostic of [...errors, ...warnings]) {
    process.stderr.write(`${formatDiagnostic(diagnostic)}\n`);
  }
  if (errors.length > 0) process.exit(1);
  process.stderr.write('configuration OK\n');
  process.exit(0);
}

async function main(): Promise<void> {
  const parsed = parseCommandLine(PROG, USAGE, {
    options: {
      debug: { type: 'boolean', short: 'd', default: false },
      noaction: { type: 'boolean', short: 'n', default: false },
      verbose: { type: 'boolean', short: 'v', multiple: true, default: [] },
      define: { type: 'string', short: 'D', multiple: true, default: [] },
      file: { type: 'string', short: 'f', default: DEFAULT_CONFIG },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  if (positionals.length > 0) fail(PROG, USAGE, 2);
  initLog(PROG);
  setVerbosity(values.verbose.length);
  const macros = macrosOf(values.define);
  if (values.noaction) checkConfig(values.file, macros);
  let socketPath: string;
  try {
    socketPath = daemonSocketPath();
  } catch (error) {
    fail(PROG, error instanceof Error ? error.message : String(error));
  }
  const vmd = new Vmd({
    configPath: values.file,
    macros,
    socketPath,
    verbosity: values.verbose.length,
  });
  let status: number;
  try {
    status = await vmd.run();
  } catch (error) {
    await vmd.shutdown();
    fail(PROG, error instanceof Error ? error.message : String(error));
  }
  process.exit(status);
}

void main();
