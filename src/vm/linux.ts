/**
 * Loading Linux for the 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot
 * Protocol"), as Firecracker and crosvm do for a vmlinux: the kernel's ELF segments at their
 * physical addresses, the initrd high in RAM, the command line at `CMDLINE_START`, and
 * `struct boot_params` at `ZERO_PAGE_START` with the setup header, the e820 map and pointers
 * to the other two. A bzImage is first decompressed on the host to its vmlinux (bzimage.ts).
 *
 * The machine then enters `entry` in long mode with RSI = `bootParams` (x86_boot.ts's
 * `setupLongMode`): its identity map covers 4 GiB, its GDT has `__BOOT_CS` 0x10 and
 * `__BOOT_DS` 0x18, and interrupts are off, as the protocol asks.
 */

import type { GuestMemory } from '../engine/memory.js';
import { buildBootParams, e820Map } from './boot_params.js';
import type { E820Entry } from './boot_params.js';
import { defaultVmlinuxCache, extractVmlinux, isBzImage } from './bzimage.js';
import type { BzImage } from './bzimage.js';
import { KernelLoadError, isElf, loadElf, parseElf, readImageFile } from './elf.js';
import type { KernelImage } from './elf.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START, ZERO_PAGE_START } from './layout.js';

/** Page size the initrd is aligned to. */
const INITRD_ALIGN = 0x1000;
/** `initrd_addr_max` assumed for a bare vmlinux: what every kernel since 2.6.31 declares. */
const DEFAULT_INITRD_ADDR_MAX = 0x7fff_ffff;
/** ramdisk_image is 32 bits (the ext_ field is for loaders that go above 4 GiB; we do not). */
const FOUR_GIB = 2 ** 32;

/** What to load. */
export interface LinuxLoadOptions {
  /** A bzImage or an ELF vmlinux: its bytes, or the path of its file. */
  kernel: Uint8Array | string;
  /** The initrd (initramfs cpio, compressed or not): bytes or a path. None by default. */
  initrd?: Uint8Array | string;
  /** The kernel command line. */
  cmdline: string;
  /** Heads error messages; by default the kernel's path, or "kernel". */
  name?: string;
  /**
   * Where a bzImage's decompressed vmlinux is cached; `null` for no cache. By default `vmlinux`
   * in the project's cache folder.
   */
  cacheDir?: string | null;
}

/** A loaded kernel and where its boot data went. */
export interface LinuxBoot {
  /** Guest-physical 64-bit entry point (the ELF's `startup_64`, 0x1000000 for Debian's). */
  readonly entry: bigint;
  /** Guest-physical address of `struct boot_params`, for RSI. */
  readonly bootParams: bigint;
  /** The loaded vmlinux. */
  readonly kernel: KernelImage;
  /** The bzImage it came from, if it was one. */
  readonly bzImage: BzImage | undefined;
  /** The kernel release from the bzImage header (`6.1.0-56-amd64`), if known. */
  readonly release: string | undefined;
  /** The command line: address and length without the NUL. */
  readonly cmdline: { readonly address: number; readonly length: number };
  /** The initrd: address and size, if one was given. */
  readonly initrd: { readonly address: number; readonly size: number } | undefined;
  /** The e820 map given to the kernel. */
  readonly e820: readonly E820Entry[];
}

/**
 * Loads a Linux kernel, its initrd and command line into `mem` and writes the zero page.
 * Everything is checked before anything is written; problems are {@link KernelLoadError}s
 * whose message starts with the file's name.
 */
export async function loadLinux(mem: GuestMemory, options: LinuxLoadOptions): Promise<LinuxBoot> {
  const name = options.name ?? (typeof options.kernel === 'string' ? options.kernel : 'kernel');
  const image = await readInput(options.kernel, name);
  let vmlinux: Uint8Array;
  let bzImage: BzImage | undefined;
  if (isElf(image)) {
    vmlinux = image;
  } else if (isBzImage(image)) {
    const cacheDir = options.cacheDir === undefined ? defaultVmlinuxCache() : options.cacheDir;
    ({ vmlinux, bzImage } = await extractVmlinux(image, { name, cacheDir }));
  } else {
    throw new KernelLoadError(`${name}: neither a Linux bzImage nor an ELF vmlinux`);
  }
  const parsed = parseElf(vmlinux, name);
  if (parsed.highest > mem.size) {
    throw new KernelLoadError(
      `${name}: the kernel occupies guest memory up to 0x${parsed.highest.toString(16)}, ` +
        `beyond the ${mib(mem.size)} of guest RAM`,
    );
  }

  const cmdline = Buffer.from(options.cmdline, 'utf8');
  const maxLength = Math.min(CMDLINE_MAX_SIZE - 1, bzImage?.header.cmdlineSize ?? Infinity);
  if (cmdline.includes(0)) throw new KernelLoadError(`${name}: command line contains a NUL`);
  if (cmdline.length > maxLength) {
    throw new KernelLoadError(
      `${name}: command line of ${cmdline.length} bytes is longer than the kernel's ${maxLength}`,
    );
  }

  let initrd: { address: number; size: number; data: Uint8Array } | undefined;
  if (options.initrd !== undefined) {
    const initrdName = typeof options.initrd === 'string' ? options.initrd : 'initrd';
    const data = await readInput(options.initrd, initrdName);
    const max = bzImage?.header.initrdAddrMax ?? DEFAULT_INITRD_ADDR_MAX;
    const address = placeInitrd(data.length, { ramSize: mem.size, max, kernelEnd: parsed.highest });
    if (typeof address === 'string') throw new KernelLoadError(`${initrdName}: ${address}`);
    initrd = { address, size: data.length, data };
  }

  const e820 = e820Map(mem.size);
  const zeroPage = buildBootParams({
    header: bzImage?.header.bytes,
    cmdline: { address: CMDLINE_START, length: cmdline.length },
    initrd,
    e820,
  });

  // Everything checked: now write.
  const kernel = loadElf(vmlinux, mem, { name });
  if (initrd !== undefined) mem.write(initrd.address, initrd.data);
  mem.fill(CMDLINE_START, CMDLINE_MAX_SIZE, 0);
  mem.write(CMDLINE_START, cmdline);
  mem.write(ZERO_PAGE_START, zeroPage);
  return {
    entry: kernel.entry,
    bootParams: BigInt(ZERO_PAGE_START),
    kernel,
    bzImage,
    release: bzImage?.release,
    cmdline: { address: CMDLINE_START, length: cmdline.length },
    initrd: initrd && { address: initrd.address, size: initrd.size },
    e820,
  };
}

/**
 * Where an initrd of `size` bytes goes: as high as possible (below the end of RAM, below
 * `max` + 1, the header's highest legal initrd byte, and below 4 GiB), page aligned, and above
 * the kernel's end. Returns the address, or why it does not fit.
 */
export function placeInitrd(
  size: number,
  limits: { ramSize: number; max: number; kernelEnd: number },
): number | string {
  if (size === 0) return 'empty initrd';
  const top = Math.min(limits.ramSize, limits.max + 1, FOUR_GIB);
  const address = Math.floor((top - size) / INITRD_ALIGN) * INITRD_ALIGN;
  const floor = Math.ceil(limits.kernelEnd / INITRD_ALIGN) * INITRD_ALIGN;
  if (address < floor) {
    return (
      `${mib(size)} of initrd do not fit between the kernel's end at 0x${floor.toString(16)} ` +
      `and 0x${top.toString(16)}; give the VM more memory`
    );
  }
  return address;
}

/** The bytes of `input`, reading it when it is a path; errors name the file. */
async function readInput(input: Uint8Array | string, name: string): Promise<Uint8Array> {
  if (typeof input !== 'string') {
    if (input.length === 0) throw new KernelLoadError(`${name}: empty`);
    return input;
  }
  return readImageFile(input, name);
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
