/**
 * Helpers for the image tests: stand-in kernel modules, real ELF objects that the system
 * assembler (`as`, Debian's binutils) makes with a `.modinfo` section as modpost writes it.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a stand-in module's `.modinfo` says. */
export interface FakeModule {
  /** `name=`; left out when undefined. */
  name?: string;
  /** `depends=`, comma-joined (an empty `depends=` when the list is empty). */
  depends?: readonly string[];
  /** `vermagic=`; left out when undefined. */
  vermagic?: string;
  /** Further `key=value` strings, e.g. `alias=…`. */
  extra?: readonly string[];
  /** `32` for an ELF32 object (which the module reader refuses). */
  bits?: 32 | 64;
}

/** Assembles a relocatable ELF object whose `.modinfo` holds `module`'s strings. */
export function assembleModule(module: FakeModule): Uint8Array {
  const strings = [
    'license=GPL',
    ...(module.depends === undefined ? [] : [`depends=${module.depends.join(',')}`]),
    ...(module.name === undefined ? [] : [`name=${module.name}`]),
    ...(module.vermagic === undefined ? [] : [`vermagic=${module.vermagic}`]),
    ...(module.extra ?? []),
  ];
  return assemble(
    [
      '.text',
      'nop',
      '.section .modinfo,"a"',
      ...strings.map((s) => `.asciz ${JSON.stringify(s)}`),
      '.data',
      '.quad 0',
    ].join('\n'),
    module.bits ?? 64,
  );
}

/** Assembles GNU as `source` into an ELF object of `bits` and returns its bytes. */
export function assemble(source: string, bits: 32 | 64 = 64): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-as-'));
  try {
    writeFileSync(join(dir, 'm.s'), `${source}\n`);
    execFileSync('as', [`--${bits}`, '-o', join(dir, 'm.o'), join(dir, 'm.s')]);
    return new Uint8Array(readFileSync(join(dir, 'm.o')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
