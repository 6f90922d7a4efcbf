/**
 * Human-readable vCPU state and exits, for error messages and failed tests: what a person
 * needs to see to tell why a guest stopped.
 */

import type { Regs, Sregs, VcpuExit } from '../engine/types.js';
import { GPR_NAMES, vectorName } from '../engine/types.js';

const hex = (v: bigint, width = 16): string => v.toString(16).padStart(width, '0');

/** The general and control registers, four to a line. */
export function formatVcpuState(regs: Regs, sregs: Sregs): string {
  const cells = [
    ...GPR_NAMES.map((n) => `${n.padStart(3)}=${hex(regs[n])}`),
    `rip=${hex(regs.rip)}`,
    `rfl=${hex(regs.rflags, 8)}`,
    `cr0=${hex(sregs.cr0, 8)}`,
    `cr2=${hex(sregs.cr2)}`,
    `cr3=${hex(sregs.cr3)}`,
    `cr4=${hex(sregs.cr4, 8)}`,
    `efer=${hex(sregs.efer, 4)}`,
    `cs=${sregs.cs.selector.toString(16).padStart(4, '0')}${sregs.cs.l ? ' (64-bit)' : ''}`,
  ];
  const lines: string[] = [];
  for (let i = 0; i < cells.length; i += 4) lines.push(cells.slice(i, i + 4).join('  '));
  return lines.join('\n');
}

/** One line describing an exception exit: vector, address, error code, CR2, code bytes. */
export function describeException(exit: Extract<VcpuExit, { kind: 'exception' }>): string {
  const parts = [`${vectorName(exit.vector)} at rip 0x${exit.rip.toString(16)}`];
  if (exit.errorCode !== undefined) parts.push(`error code 0x${exit.errorCode.toString(16)}`);
  if (exit.vector === 14) parts.push(`cr2 0x${exit.cr2.toString(16)}`);
  parts.push(
    exit.bytes.length > 0
      ? `bytes ${Array.from(exit.bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')}`
      : 'code not mapped',
  );
  return parts.join(', ');
}
