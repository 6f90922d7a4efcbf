/**
 * bench:boot — boots Debian's kernel (the decompressed vmlinux) with the busybox initramfs to
 * the shell marker, three times on the software engine and, when `qemu-system-x86_64` is
 * installed, three times on QEMU's TCG with the very same files and command line; prints the
 * medians and the ratio ours/QEMU.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareGuestImage } from '../src/images/guest_image.js';
import { GUEST_SHELL_MARKER } from '../src/images/initramfs.js';
import { extractVmlinux, defaultVmlinuxCache } from '../src/vm/bzimage.js';
import { LINUX_PLATFORM_ARGS, Machine } from '../src/vm/machine.js';
import { REPO_ROOT } from '../tests/guests/build_guest.js';

const RUNS = 3;
const MEMORY = 256 * 1024 * 1024;
const CMDLINE = 'console=ttyS0 panic=-1';
const QEMU = 'qemu-system-x86_64';
/** A boot that takes longer than this failed. */
const TIMEOUT_MS = 10 * 60_000;

interface Boot {
  ms: number;
  instructions?: number;
}

async function engineBoot(kernel: string, initrd: string): Promise<Boot> {
  let seen = '';
  const machine = await Machine.create({
    kernel,
    initrd,
    cmdline: CMDLINE,
    memorySize: MEMORY,
    console: {
      write(data: Uint8Array): void {
        seen = (seen + Buffer.from(data).toString('latin1')).slice(-4096);
        if (seen.includes(GUEST_SHELL_MARKER)) machine.stop();
      },
    },
  });
  const t0 = performance.now();
  const stop = await machine.runAsync();
  const ms = performance.now() - t0;
  if (stop.kind !== 'stopped') throw new Error(`the engine's boot ended: ${stop.kind}\n${seen}`);
  return { ms, instructions: machine.vcpu.instructionCount };
}

function qemuBoot(kernel: string, initrd: string): Promise<Boot> {
  const args = [
    '-accel',
    'tcg',
    '-M',
    'pc,acpi=off,hpet=off',
    '-m',
    String(MEMORY / (1024 * 1024)),
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    `${CMDLINE} ${LINUX_PLATFORM_ARGS}`,
  ];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`QEMU did not reach the shell in ${TIMEOUT_MS} ms:\n${seen}`));
    }, TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString('latin1')).slice(-4096);
      if (seen.includes(GUEST_SHELL_MARKER)) {
        const ms = performance.now() - t0;
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve({ ms });
      }
    });
    child.on('error', reject);
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const image = await prepareGuestImage();
  const { vmlinux } = await extractVmlinux(await readFile(image.kernel.path), {
    name: image.kernel.path,
    cacheDir: defaultVmlinuxCache(),
  });
  const dir = join(REPO_ROOT, '.cache/bench');
  await mkdir(dir, { recursive: true });
  const kernel = join(dir, `vmlinux-${image.kernel.release}`);
  await writeFile(kernel, vmlinux);
  const initrd = image.initramfs.path;
  console.log(`kernel ${image.kernel.release} (vmlinux), initramfs ${initrd}`);

  const ours: Boot[] = [];
  for (let i = 0; i < RUNS; i++) ours.push(await engineBoot(kernel, initrd));
  const oursMs = median(ours.map((b) => b.ms));
  const instructions = median(ours.map((b) => b.instructions ?? 0));
  console.log(
    `engine: ${ours.map((b) => (b.ms / 1000).toFixed(2)).join(' ')} s, median ${(oursMs / 1000).toFixed(2)} s, ` +
      `${(instructions / 1e9).toFixed(2)} G instructions, ${(instructions / oursMs / 1000).toFixed(0)} MIPS`,
  );

  if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log(`${QEMU} is not installed: no reference run (apt-get install qemu-system-x86)`);
    return;
  }
  const qemu: Boot[] = [];
  for (let i = 0; i < RUNS; i++) qemu.push(await qemuBoot(kernel, initrd));
  const qemuMs = median(qemu.map((b) => b.ms));
  console.log(
    `qemu tcg: ${qemu.map((b) => (b.ms / 1000).toFixed(2)).join(' ')} s, median ${(qemuMs / 1000).toFixed(2)} s`,
  );
  console.log(`ratio engine/qemu: ${(oursMs / qemuMs).toFixed(2)}`);
}

await main();
