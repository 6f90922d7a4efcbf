// Builds the software engine's core: generates the decoder tables, then compiles the
// AssemblyScript sources to dist/src/engine/soft/core.wasm. Run after tsc (it reads the
// compiled opcode table).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(process.execPath, [join(root, 'scripts/gen_x86_table.mjs')]);
run(process.execPath, [
  join(root, 'node_modules/assemblyscript/bin/asc.js'),
  'src/engine/soft/core/index.ts',
  '--outFile',
  'dist/src/engine/soft/core.wasm',
  '--runtime',
  'stub',
  '--optimizeLevel',
  '3',
  '--shrinkLevel',
  '0',
  '--importMemory',
  '--sharedMemory',
  '--enable',
  'threads',
  '--enable',
  'simd',
  '--initialMemory',
  '1024',
  '--maximumMemory',
  '65536',
  '--noAssert',
  '--uncheckedBehavior',
  'always',
]);
