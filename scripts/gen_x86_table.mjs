// Generates the AssemblyScript decoder tables and the executor dispatch from the opcode table
// (src/engine/soft/x86_table.ts, compiled by tsc). Output: src/engine/soft/core/gen/table.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { OPCODE_TABLE, DECODER_EXECUTORS } = await import(
  join(root, 'dist/src/engine/soft/x86_table.js')
);

// Bit layout shared with core/decode.ts (INFO_*).
const MODRM = 1 << 10,
  IMM_SHIFT = 11,
  BYTE = 1 << 14,
  D64 = 1 << 15,
  F64 = 1 << 16;
const I64 = 1 << 17,
  LOCK = 1 << 18,
  GROUP = 1 << 19,
  INDEX_SHIFT = 20,
  INDEX_LIMIT = 0x800,
  PREFIXED = 2 ** 31;

const handlers = ['invalid'];
const handlerId = (name) => {
  let id = handlers.indexOf(name);
  if (id < 0) id = handlers.push(name) - 1;
  if (id > 0x3ff) throw new Error('too many handlers for the 10-bit handler field');
  return id;
};

function infoWord(form) {
  let w = handlerId(form.handler);
  if (form.modrm) w |= MODRM;
  w |= (form.imm ?? 0) << IMM_SHIFT;
  if (form.byteOp) w |= BYTE;
  if (form.d64) w |= D64;
  if (form.f64) w |= F64;
  if (form.i64) w |= I64;
  if (form.lockable) w |= LOCK;
  return w >>> 0;
}

// The decode tree of each opcode slot (0x000–0x0ff one-byte map, 0x100–0x1ff two-byte map):
//   an info word;
//   or a group: 16 entries, ModRM.reg for a memory operand (0–7) and a register one (8–15),
//     each an info word or an rm-group (8 entries by ModRM.rm, register operands only);
//   or, for mandatory-prefix opcodes, 4 columns (none, 66, F3, F2) each holding one of the above.
const PREFIX_COLUMN = new Map([
  [0, 0],
  [0x66, 1],
  [0xf3, 2],
  [0xf2, 3],
]);
const slots = new Map(); // slot -> node
const newGroup = () => ({ kind: 'group', entries: new Array(16).fill(undefined) });
const name = (form) =>
  `opcode 0x${form.opcode.toString(16)}` +
  (form.prefix !== undefined ? ` prefix 0x${form.prefix.toString(16)}` : '') +
  (form.ext !== undefined ? ` /${form.ext}` : '') +
  (form.mod !== undefined ? ` ${form.mod}` : '') +
  (form.rm !== undefined ? ` rm=${form.rm}` : '') +
  ` (${form.mnemonic})`;

function place(container, key, form) {
  const twice = () => new Error(`${name(form)} collides with another form`);
  const split = form.ext !== undefined || form.mod !== undefined;
  if (!split) {
    if (container[key] !== undefined) throw twice();
    container[key] = { kind: 'info', word: infoWord(form) };
    return;
  }
  if (form.rm !== undefined && (form.ext === undefined || form.mod !== 'reg')) {
    throw new Error(`${name(form)}: an rm digit needs ext and mod 'reg'`);
  }
  container[key] ??= newGroup();
  const group = container[key];
  if (group.kind !== 'group') throw new Error(`${name(form)} is both a group and a plain form`);
  const regs = form.ext !== undefined ? [form.ext] : [0, 1, 2, 3, 4, 5, 6, 7];
  const halves = form.mod === 'mem' ? [0] : form.mod === 'reg' ? [8] : [0, 8];
  for (const r of regs) {
    for (const h of halves) {
      if (form.rm === undefined) {
        if (group.entries[h + r] !== undefined) throw twice();
        group.entries[h + r] = { kind: 'info', word: infoWord(form) };
      } else {
        group.entries[h + r] ??= { kind: 'rm', entries: new Array(8).fill(undefined) };
        const sub = group.entries[h + r];
        if (sub.kind !== 'rm' || sub.entries[form.rm] !== undefined) throw twice();
        sub.entries[form.rm] = { kind: 'info', word: infoWord(form) };
      }
    }
  }
}

for (const form of OPCODE_TABLE) {
  const slot = form.opcode >= 0x0f00 ? 0x100 | (form.opcode & 0xff) : form.opcode;
  if (slot < 0 || slot > 0x1ff || (form.opcode > 0xff && form.opcode >> 8 !== 0x0f))
    throw new Error(`opcode 0x${form.opcode.toString(16)} out of range`);
  if (form.prefix === undefined) {
    if (slots.get(slot)?.kind === 'prefixed') {
      throw new Error(`${name(form)} has no prefix, but other forms of the opcode do`);
    }
    const holder = { node: slots.get(slot) };
    place(holder, 'node', form);
    slots.set(slot, holder.node);
    continue;
  }
  const column = PREFIX_COLUMN.get(form.prefix);
  if (column === undefined) throw new Error(`${name(form)}: unknown mandatory prefix`);
  if (!slots.has(slot))
    slots.set(slot, { kind: 'prefixed', columns: new Array(4).fill(undefined) });
  const node = slots.get(slot);
  if (node.kind !== 'prefixed') {
    throw new Error(`${name(form)} has a mandatory prefix, but other forms of the opcode do not`);
  }
  place(node.columns, column, form);
}

// Flatten: groups (and rm-groups) into GROUP_INFO, 16 words each; prefix columns into
// PREFIX_INFO, 4 words each.
const groupInfo = [];
const prefixInfo = [];
function wordOf(node) {
  if (node === undefined) return 0;
  if (node.kind === 'info') return node.word;
  const at = groupInfo.length / 16;
  if (at >= INDEX_LIMIT) throw new Error('too many groups');
  groupInfo.push(...new Array(16).fill(0));
  node.entries.forEach((e, i) => {
    groupInfo[at * 16 + i] = wordOf(e);
  });
  return (GROUP | (at << INDEX_SHIFT)) >>> 0;
}
const opInfo = new Array(512).fill(0);
for (const [slot, node] of [...slots].sort((a, b) => a[0] - b[0])) {
  if (node.kind !== 'prefixed') {
    opInfo[slot] = wordOf(node);
    continue;
  }
  const at = prefixInfo.length / 4;
  if (at >= INDEX_LIMIT) throw new Error('too many mandatory-prefix opcodes');
  prefixInfo.push(0, 0, 0, 0);
  node.columns.forEach((c, i) => {
    prefixInfo[at * 4 + i] = wordOf(c);
  });
  opInfo[slot] = (PREFIXED + (at << INDEX_SHIFT)) >>> 0;
}
// Executors with no table row: the decoder selects them (core/decode.ts, core/fast.ts).
for (const name of DECODER_EXECUTORS) handlerId(name);

const hex = (n) => '0x' + n.toString(16);
const rows = (arr) => {
  const out = [];
  for (let i = 0; i < arr.length; i += 8)
    out.push(
      '  ' +
        arr
          .slice(i, i + 8)
          .map(hex)
          .join(', ') +
        ',',
    );
  return out.join('\n');
};

const src = `// Generated by scripts/gen_x86_table.mjs from src/engine/soft/x86_table.ts. Do not edit.
import * as x from '../exec';
import { raiseUD } from '../exceptions';

/** Info words of the one-byte map (0x000–0x0ff) and the two-byte map (0x100–0x1ff). */
export const OP_INFO: StaticArray<u32> = [
${rows(opInfo)}
];

/**
 * Info words of group encodings, 16 per group: ModRM.reg for a memory operand, then ModRM.reg
 * for a register operand (+8); an entry that is itself a group (x87 register forms) is indexed
 * by ModRM.rm.
 */
export const GROUP_INFO: StaticArray<u32> = [
${rows(groupInfo)}
];

/** Info words of mandatory-prefix opcodes, 4 per opcode: no prefix, 66, F3, F2. */
export const PREFIX_INFO: StaticArray<u32> = [
${rows(prefixInfo.length > 0 ? prefixInfo : [0, 0, 0, 0])}
];

// Executor ids, for the decoder's specialisation step.
${handlers
  .slice(1)
  .map((h, i) => `export const H_${h}: u32 = ${i + 1};`)
  .join('\n')}

/** Runs the executor with id \`handler\` on decoded record \`d\`. */
@inline export function dispatch(handler: u32, d: usize): void {
  switch (handler) {
${handlers
  .slice(1)
  .map((h, i) => `    case ${i + 1}: x.${h}(d); return;`)
  .join('\n')}
    default: raiseUD();
  }
}
`;
const out = join(root, 'src/engine/soft/core/gen/table.ts');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, src);
console.log(
  `gen_x86_table: ${OPCODE_TABLE.length} forms, ${handlers.length - 1} executors, ${groupInfo.length / 16} groups, ${prefixInfo.length / 4} prefixed opcodes`,
);
