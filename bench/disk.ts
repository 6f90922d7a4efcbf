/**
 * bench:disk — sequential disk throughput inside the Debian guest: the guest boots with a raw
 * and a qcow2 image (256 MiB each) on virtio-blk and times, with its own clock
 * (`/proc/uptime`), `dd` writing the whole disk from /dev/zero with O_DIRECT and reading it
 * back with O_DIRECT, four rounds each. The first write to a fresh image allocates (qcow2
 * clusters, the sparse raw file's blocks) and is shown apart; the others overwrite. The same
 * runs on QEMU's TCG (legacy virtio-blk-pci, same kernel, initramfs and fresh images) when
 * `qemu-system-x86_64` is installed. Prints MB/s (10^6 bytes a second, dd's unit), the medians
 * and the ratio engine/QEMU.
 */

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createImage } from '../src/block/create.js';
import { tempDir } from '../src/block/testing.js';
import { prepareGuestImage } from '../src/images/guest_image.js';
import { GUEST_SHELL_MARKER } from '../src/images/initramfs.js';
import { LINUX_PLATFORM_ARGS } from '../src/vm/machine.js';
import {
  BOOT_TIMEOUT_MS,
  ConsoleSession,
  GUEST_CMDLINE,
  bootGuest,
} from '../tests/linux/guest_session.js';

const MiB = 1024 * 1024;
const DISK_MIB = 256;
const ROUNDS = 4;
const MEMORY_MIB = 256;
const QEMU = 'qemu-system-x86_64';

/** One disk's figures in MB/s: the first write to the fresh image, then a figure a round. */
interface DiskFigures {
  firstWrite: number;
  write: number[];
  read: number[];
}

/** QEMU's TCG running the guest with its serial console on a pipe. */
class QemuSession extends ConsoleSession {
  readonly #child: ChildProcessWithoutNullStreams;
  #output = '';
  #exit: string | undefined;
  /** Settles when QEMU exits. */
  readonly exited: Promise<void>;

  constructor(args: readonly string[]) {
    super();
    this.#child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdout.on('data', (chunk: Buffer) => (this.#output += chunk.toString('latin1')));
    this.#child.stderr.on('data', (chunk: Buffer) => (this.#output += chunk.toString('latin1')));
    this.exited = new Promise((resolve) => {
      this.#child.on('close', (code, signal) => {
        this.#exit = `QEMU exited (${signal ?? `status ${String(code)}`})`;
        resolve();
      });
      this.#child.on('error', (error) => {
        this.#exit = `QEMU did not run: ${error.message}`;
        resolve();
      });
    });
  }

  get output(): string {
    return this.#output;
  }

  type(text: string): void {
    this.#child.stdin.write(text);
  }

  get stopReason(): string | undefined {
    return this.#exit;
  }

  protected describeCpu(): string {
    return '(QEMU: no register dump)';
  }

  /** Ends QEMU and waits for it. */
  async close(): Promise<void> {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
    await this.exited;
  }
}

/** Fresh raw and qcow2 images of {@link DISK_MIB} in `dir`. */
async function makeDisks(dir: string, tag: string): Promise<{ raw: string; qcow2: string }> {
  const raw = join(dir, `${tag}.raw`);
  const qcow2 = join(dir, `${tag}.qcow2`);
  await createImage(raw, { format: 'raw', size: DISK_MIB * MiB });
  await createImage(qcow2, { format: 'qcow2', size: DISK_MIB * MiB });
  return { raw, qcow2 };
}

/** Runs `dd` in the guest and returns MB/s by the guest's clock (10 ms resolution). */
async function timedDd(guest: ConsoleSession, dd: string): Promise<number> {
  const out = await guest.run(`cat /proc/uptime; ${dd} 2>&1; cat /proc/uptime`, 10 * 60_000);
  const uptimes = [...out.matchAll(/^(\d+\.\d+) \d+\.\d+$/gm)].map((m) => Number(m[1]));
  const records = /^(\d+)\+0 records out$/m.exec(out);
  const first = uptimes[0];
  const last = uptimes.at(-1);
  if (records?.[1] !== String(DISK_MIB) || first === undefined || last === undefined) {
    throw new Error(`${dd} did not complete:\n${out}\n${guest.context()}`);
  }
  const seconds = Math.max(last - first, 0.01);
  return (DISK_MIB * MiB) / 1e6 / seconds;
}

/** Sequential write and read of the whole of `device`, {@link ROUNDS} times. */
async function measure(guest: ConsoleSession, device: string): Promise<DiskFigures> {
  const writes: number[] = [];
  const reads: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    writes.push(
      await timedDd(guest, `dd if=/dev/zero of=${device} bs=1M count=${DISK_MIB} oflag=direct`),
    );
    reads.push(
      await timedDd(guest, `dd if=${device} of=/dev/null bs=1M count=${DISK_MIB} iflag=direct`),
    );
  }
  return { firstWrite: writes[0] ?? NaN, write: writes.slice(1), read: reads };
}

async function engineRun(raw: string, qcow2: string): Promise<Record<string, DiskFigures>> {
  const guest = await bootGuest({
    disks: [
      { path: raw, format: 'raw' },
      { path: qcow2, format: 'qcow2' },
    ],
  });
  try {
    return { raw: await measure(guest, '/dev/vda'), qcow2: await measure(guest, '/dev/vdb') };
  } finally {
    await guest.dispose();
  }
}

async function qemuRun(
  kernel: string,
  initrd: string,
  raw: string,
  qcow2: string,
): Promise<Record<string, DiskFigures>> {
  const drive = (path: string, format: string, id: string): string[] => [
    '-drive',
    `file=${path},format=${format},if=none,id=${id}`,
    // The legacy (virtio 0.9.5) interface, the one the engine's device offers.
    '-device',
    `virtio-blk-pci,drive=${id},disable-modern=on`,
  ];
  const guest = new QemuSession([
    ...['-accel', 'tcg', '-M', 'pc,acpi=off,hpet=off', '-m', String(MEMORY_MIB)],
    ...['-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot'],
    ...['-kernel', kernel, '-initrd', initrd, '-append', `${GUEST_CMDLINE} ${LINUX_PLATFORM_ARGS}`],
    ...drive(raw, 'raw', 'd0'),
    ...drive(qcow2, 'qcow2', 'd1'),
  ]);
  try {
    await guest.waitFor(new RegExp(GUEST_SHELL_MARKER), 0, BOOT_TIMEOUT_MS);
    return { raw: await measure(guest, '/dev/vda'), qcow2: await measure(guest, '/dev/vdb') };
  } finally {
    await guest.close();
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function report(name: string, figures: Record<string, DiskFigures>): void {
  for (const [format, f] of Object.entries(figures)) {
    const show = (v: readonly number[]): string =>
      `${v.map((x) => x.toFixed(0)).join(' ')}, median ${median(v).toFixed(0)}`;
    console.log(
      `${name} ${format} MB/s: first write ${f.firstWrite.toFixed(0)}; ` +
        `write ${show(f.write)}; read ${show(f.read)}`,
    );
  }
}

async function main(): Promise<void> {
  const image = await prepareGuestImage();
  console.log(
    `kernel ${image.kernel.release}, ${DISK_MIB} MiB disks, dd bs=1M with O_DIRECT, ` +
      `${ROUNDS} rounds (the first write apart)`,
  );
  const { dir, remove } = await tempDir();
  try {
    const mine = await makeDisks(dir, 'engine');
    const ours = await engineRun(mine.raw, mine.qcow2);
    report('engine', ours);
    if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0) {
      console.log(`${QEMU} is not installed: no reference run (apt-get install qemu-system-x86)`);
      return;
    }
    const disks = await makeDisks(dir, 'qemu');
    const qemu = await qemuRun(image.kernel.path, image.initramfs.path, disks.raw, disks.qcow2);
    report('qemu tcg', qemu);
    for (const format of ['raw', 'qcow2']) {
      const o = ours[format];
      const q = qemu[format];
      if (o === undefined || q === undefined) continue;
      console.log(
        `ratio engine/qemu ${format}: first write ${(o.firstWrite / q.firstWrite).toFixed(2)}, ` +
          `write ${(median(o.write) / median(q.write)).toFixed(2)}, ` +
          `read ${(median(o.read) / median(q.read)).toFixed(2)}`,
      );
    }
  } finally {
    await remove();
  }
}

await main();
