/**
 * bench:engine — guest loops on the software engine against the same machine code on the host
 * CPU. Each loop (bench/loops/loops.inc) is linked natively into a C timer and assembled into
 * a guest; the engine's instruction count is the same for both, so the native MIPS figure is
 * that count over the native time. Prints MIPS and the engine/native ratio per loop.
 */

import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, assembleGuest, runTool } from '../tests/guests/build_guest.js';
import { Machine } from '../src/vm/machine.js';

const run = promisify(execFile);
const LOOPS = join(REPO_ROOT, 'bench/loops');
const CACHE = join(REPO_ROOT, '.cache/bench');

/** Loop number, name and iterations (sized for about a second on the engine). */
const CASES = [
  { n: 0, name: 'alu+load', iterations: 10_000_000 },
  { n: 1, name: 'load+store', iterations: 6_000_000 },
  { n: 2, name: 'call/ret', iterations: 10_000_000 },
  { n: 3, name: 'rep movsb/stosq', iterations: 2_000 },
  { n: 4, name: 'sieve', iterations: 40 },
] as const;

async function nativeRunner(): Promise<string> {
  await mkdir(CACHE, { recursive: true });
  const exe = join(CACHE, 'native');
  const object = join(CACHE, 'native_loops.o');
  await runTool('nasm', ['-f', 'elf64', `-I${LOOPS}/`, '-o', object, join(LOOPS, 'native.asm')]);
  await runTool('gcc', ['-O2', '-o', exe, join(LOOPS, 'native.c'), object]);
  return exe;
}

async function nativeNs(exe: string, n: number, iterations: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const { stdout } = await run(exe, [String(n), String(iterations)]);
    best = Math.min(best, Number(stdout.split(' ')[0]));
  }
  return best;
}

async function engineRun(
  n: number,
  iterations: number,
): Promise<{ ns: number; instructions: number }> {
  const kernel = await assembleGuest(join(LOOPS, 'guest.asm'), { LOOP: n, ITERATIONS: iterations });
  let best = { ns: Infinity, instructions: 0 };
  for (let i = 0; i < 3; i++) {
    const machine = await Machine.create({
      kernel,
      memorySize: 64 * 1024 * 1024,
      console: { write: () => undefined },
    });
    const t0 = process.hrtime.bigint();
    const stop = machine.run();
    const ns = Number(process.hrtime.bigint() - t0);
    if (stop.kind !== 'debug-exit') throw new Error(`benchmark guest ${n} stopped: ${stop.kind}`);
    if (ns < best.ns) best = { ns, instructions: machine.vcpu.instructionCount };
  }
  return best;
}

async function main(): Promise<void> {
  const exe = await nativeRunner();
  console.log('loop               guest instr   engine MIPS   native MIPS   engine/native');
  for (const c of CASES) {
    const native = await nativeNs(exe, c.n, c.iterations);
    const engine = await engineRun(c.n, c.iterations);
    const mips = (ns: number): string => ((engine.instructions / ns) * 1000).toFixed(1);
    const ratio = native / engine.ns;
    console.log(
      `${c.name.padEnd(18)} ${String(engine.instructions).padStart(11)} ${mips(engine.ns).padStart(13)} ` +
        `${mips(native).padStart(13)} ${ratio.toFixed(4).padStart(15)}`,
    );
  }
  console.log('(a rep-prefixed string instruction counts once per 4096 iterations in the engine)');
}

await main();
