/**
 * vm.conf macros, as parse.y's symset/symget keep them: `name = "value"` in the file, `$name`
 * outside quotes to expand, and `vmd -D name=value` definitions that are persistent, so a
 * later definition in the file does not replace them.
 */

import type { SourceLocation } from './types.js';

interface Macro {
  value: string;
  /** Defined by `-D`: the file cannot redefine it. */
  persistent: boolean;
  used: boolean;
  /** Where the file defined it; `null` for `-D`. */
  location: SourceLocation | null;
}

/** A macro nobody expanded, for the "macro 'x' not used" warning. */
export interface UnusedMacro {
  name: string;
  location: SourceLocation | null;
}

/** The symbol table of one parse. */
export class MacroTable {
  private readonly macros = new Map<string, Macro>();

  /**
   * Defines `name` (symset): a persistent definition is never replaced; a non-persistent one
   * is replaced by any later definition. Redefining moves the macro to the end of the table.
   */
  define(
    name: string,
    value: string,
    persistent: boolean,
    location: SourceLocation | null = null,
  ): void {
    const old = this.macros.get(name);
    if (old?.persistent === true) return;
    this.macros.delete(name);
    this.macros.set(name, { value, persistent, used: false, location });
  }

  /** The value of `name`, marking it used (symget); `undefined` when it is not defined. */
  expand(name: string): string | undefined {
    const macro = this.macros.get(name);
    if (macro === undefined) return undefined;
    macro.used = true;
    return macro.value;
  }

  /** Macros never expanded, in definition order. */
  unused(): UnusedMacro[] {
    const out: UnusedMacro[] = [];
    for (const [name, macro] of this.macros) {
      if (!macro.used) out.push({ name, location: macro.location });
    }
    return out;
  }
}

/**
 * Splits a `-D name=value` argument as vmd's cmdline_symset does, at the *last* `=`; `null`
 * when there is none.
 */
export function parseMacroDefinition(arg: string): { name: string; value: string } | null {
  const at = arg.lastIndexOf('=');
  if (at < 0) return null;
  return { name: arg.slice(0, at), value: arg.slice(at + 1) };
}
