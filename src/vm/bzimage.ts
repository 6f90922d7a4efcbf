/**
 * Linux bzImage files (Documentation/arch/x86/boot.rst): the setup header at 0x1f1, and the
 * compressed kernel inside, which we decompress on the host rather than run the kernel's own
 * decompressor in the guest (on the software engine that would cost several seconds). The
 * result is the ELF `vmlinux` the bzImage would have unpacked, as Linux's
 * scripts/extract-vmlinux gets it; it is cached by the bzImage's hash.
 *
 * A bzImage is the boot sector and setup code (`setup_sects` + 1 sectors of 512 bytes), then
 * the protected-mode code, inside which `payload_offset`/`payload_length` (protocol 2.08+)
 * locate the compressed vmlinux followed by its uncompressed size as a little-endian u32
 * (arch/x86/boot/compressed/mkpiggy.c reads it back from there).
 */

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { log } from '../common/log.js';
import { cachedPath, cacheRoot, exists } from '../images/cache.js';
import { ToolError, runTool } from '../images/tool.js';
import {
  BootParamsOffset as O,
  HDRS_MAGIC,
  LOADED_HIGH,
  SETUP_HEADER_LIMIT,
} from './boot_params.js';
import { KernelLoadError, isElf } from './elf.js';

/** The oldest boot protocol we load: 2.06, the first with `cmdline_size`. */
export const MIN_BOOT_PROTOCOL = 0x0206;

/** The payload formats boot.rst lists, by their magic numbers. */
export type PayloadFormat = 'xz' | 'gzip' | 'bzip2' | 'lzma' | 'lz4' | 'zstd';

const PAYLOAD_MAGIC: readonly (readonly [PayloadFormat, readonly number[]])[] = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['gzip', [0x1f, 0x8b]],
  ['gzip', [0x1f, 0x9e]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21]],
  ['bzip2', [0x42, 0x5a]],
  ['lzma', [0x5d, 0x00]],
];

/** What a search for the payload looks for when the header does not say where it is. */
const SCAN_MAGIC: readonly (readonly number[])[] = [
  [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], // xz
  [0x1f, 0x8b, 0x08], // gzip, deflate
];

/** The setup header fields a loader reads, with protocol defaults applied. */
export interface SetupHeader {
  /** Setup code sectors after the boot sector (a stored 0 reads as 4). */
  readonly setupSects: number;
  /** Boot protocol version, major << 8 | minor (0x020f for 2.15). */
  readonly version: number;
  /** `loadflags`. */
  readonly loadflags: number;
  /** The kernel version string (`6.1.0-56-amd64 (debian-kernel@…) #1 SMP …`), if present. */
  readonly kernelVersion: string | undefined;
  /** Highest address the initrd may occupy (0x37ffffff before protocol 2.03). */
  readonly initrdAddrMax: number;
  /** `kernel_alignment`. */
  readonly kernelAlignment: number;
  /** `relocatable_kernel` ≠ 0. */
  readonly relocatable: boolean;
  /** `xloadflags` (0 before protocol 2.12). */
  readonly xloadflags: number;
  /** Longest command line without its NUL. */
  readonly cmdlineSize: number;
  /** `payload_offset`, from the start of the protected-mode code (0 before 2.08). */
  readonly payloadOffset: number;
  /** `payload_length` (0 before 2.08). */
  readonly payloadLength: number;
  /** `pref_address` (0 before 2.10). */
  readonly prefAddress: bigint;
  /** `init_size` (0 before 2.10). */
  readonly initSize: number;
  /** The header's bytes from 0x1f1 to its end (0x202 + the byte at 0x201), for boot_params. */
  readonly bytes: Uint8Array;
}

/** A parsed bzImage. */
export interface BzImage {
  /** The setup header. */
  readonly header: SetupHeader;
  /** The kernel release, the first word of the version string (`uname -r`). */
  readonly release: string | undefined;
  /** File offset of the protected-mode code: (setup_sects + 1) * 512. */
  readonly protectedModeOffset: number;
  /** The compressed kernel, with the size trailer when the header gives the length. */
  readonly payload: Uint8Array;
  /** How the payload is compressed, by its magic number. */
  readonly format: PayloadFormat;
  /** The uncompressed size from the payload's trailer, when the header gives the length. */
  readonly expectedSize: number | undefined;
}

/** True when `image` has the "HdrS" signature of a Linux boot image at 0x202. */
export function isBzImage(image: Uint8Array): boolean {
  return image.length >= O.header + 4 && u32(image, O.header) === HDRS_MAGIC;
}

/** Parses a bzImage's header and finds its payload; `name` heads error messages. */
export function parseBzImage(image: Uint8Array, name: string): BzImage {
  const fail: (problem: string) => never = (problem) => {
    throw new KernelLoadError(`${name}: ${problem}`);
  };
  if (!isBzImage(image)) fail('not a Linux kernel image (no "HdrS" at 0x202)');
  const version = u16(image, O.version);
  if (version < MIN_BOOT_PROTOCOL) {
    fail(`boot protocol ${protocol(version)} is too old, need ${protocol(MIN_BOOT_PROTOCOL)}`);
  }
  if (((image[O.loadflags] ?? 0) & LOADED_HIGH) === 0) {
    fail('a zImage (not loaded high); only bzImage is supported');
  }
  const headerEnd = Math.min(0x202 + (image[O.jump + 1] ?? 0), SETUP_HEADER_LIMIT);
  const setupSects = image[O.hdr] === 0 ? 4 : (image[O.hdr] ?? 4);
  const protectedModeOffset = (setupSects + 1) * 512;
  if (image.length <= protectedModeOffset) {
    fail(`truncated: no code after ${setupSects} setup sectors`);
  }
  const at = <T>(min: number, read: () => T, otherwise: T): T =>
    version >= min ? read() : otherwise;
  const header: SetupHeader = {
    setupSects,
    version,
    loadflags: image[O.loadflags] ?? 0,
    kernelVersion: readVersionString(image, u16(image, O.kernelVersion), setupSects),
    initrdAddrMax: at(0x0203, () => u32(image, O.initrdAddrMax), 0x37ff_ffff),
    kernelAlignment: u32(image, O.kernelAlignment),
    relocatable: image[O.relocatableKernel] !== 0,
    xloadflags: at(0x020c, () => u16(image, O.xloadflags), 0),
    cmdlineSize: u32(image, O.cmdlineSize),
    payloadOffset: at(0x0208, () => u32(image, O.payloadOffset), 0),
    payloadLength: at(0x0208, () => u32(image, O.payloadLength), 0),
    prefAddress: at(0x020a, () => u64(image, O.prefAddress), 0n),
    initSize: at(0x020a, () => u32(image, O.initSize), 0),
    bytes: image.slice(O.hdr, headerEnd),
  };

  let payload: Uint8Array;
  let expectedSize: number | undefined;
  if (header.payloadOffset !== 0 && header.payloadLength !== 0) {
    const start = protectedModeOffset + header.payloadOffset;
    const end = start + header.payloadLength;
    if (end > image.length || header.payloadLength < 4) {
      fail(`payload at 0x${start.toString(16)} (${header.payloadLength} bytes) runs past the end`);
    }
    payload = image.subarray(start, end);
    expectedSize = u32(payload, payload.length - 4);
  } else {
    // Before 2.08 nothing says where it is: look for a known magic, as extract-vmlinux does.
    const code = image.subarray(protectedModeOffset);
    const found = findMagic(code);
    if (found === undefined) fail('no xz or gzip payload found in the protected-mode code');
    payload = code.subarray(found);
  }
  const format = PAYLOAD_MAGIC.find(([, magic]) => magic.every((b, i) => payload[i] === b))?.[0];
  if (format === undefined) fail(`payload has an unknown format (magic ${hexBytes(payload, 6)})`);
  const release = header.kernelVersion?.split(' ')[0];
  return { header, release, protectedModeOffset, payload, format, expectedSize };
}

/**
 * Decompresses a bzImage's payload to the vmlinux ELF: xz through the system's `xz` (Debian's
 * kernels), gzip through zlib. Checks the result against the payload's size trailer.
 */
export async function decompressPayload(bz: BzImage, name: string): Promise<Uint8Array> {
  let vmlinux: Uint8Array;
  switch (bz.format) {
    case 'xz':
      try {
        // --single-stream: stop at the end of the xz stream, before the size trailer.
        const xz = await runTool('xz', ['-dc', '--single-stream'], { input: bz.payload });
        vmlinux = xz.stdout;
      } catch (error) {
        if (!(error instanceof ToolError)) throw error;
        throw new KernelLoadError(`${name}: cannot decompress the kernel: ${error.message}`, {
          cause: error,
        });
      }
      break;
    case 'gzip':
      vmlinux = gunzip(bz.payload, name);
      break;
    default:
      throw new KernelLoadError(
        `${name}: the kernel is compressed with ${bz.format}; only xz and gzip are supported ` +
          `(a vmlinux ELF can be loaded directly)`,
      );
  }
  if (bz.expectedSize !== undefined && vmlinux.length !== bz.expectedSize) {
    throw new KernelLoadError(
      `${name}: the payload decompressed to ${vmlinux.length} bytes, its trailer says ${bz.expectedSize}`,
    );
  }
  if (!isElf(vmlinux)) throw new KernelLoadError(`${name}: the payload is not an ELF vmlinux`);
  return vmlinux;
}

/** The default folder for decompressed kernels: `vmlinux` in the project's cache. */
export function defaultVmlinuxCache(): string {
  return join(cacheRoot(), 'vmlinux');
}

/**
 * The vmlinux inside bzImage `image`. With `cacheDir` (null: no cache), it is kept there as
 * `vmlinux-RELEASE-HASH`, HASH from the bzImage's SHA-256, and read back next time. A cache
 * that cannot be written is skipped with a debug line.
 */
export async function extractVmlinux(
  image: Uint8Array,
  options: { name: string; cacheDir: string | null },
): Promise<{ vmlinux: Uint8Array; bzImage: BzImage }> {
  const bzImage = parseBzImage(image, options.name);
  if (options.cacheDir === null) {
    return { vmlinux: await decompressPayload(bzImage, options.name), bzImage };
  }
  const hash = createHash('sha256').update(image).digest('hex').slice(0, 24);
  const release = (bzImage.release ?? 'unknown').replace(/[^\w.+-]/g, '_');
  const path = join(options.cacheDir, `vmlinux-${release}-${hash}`);
  if (await exists(path)) {
    const cached = await readFile(path);
    if (!isElf(cached)) throw new KernelLoadError(`${path}: cached vmlinux is not an ELF file`);
    return { vmlinux: cached, bzImage };
  }
  const vmlinux = await decompressPayload(bzImage, options.name);
  try {
    await cachedPath(path, (partial) => writeFile(partial, vmlinux));
  } catch (error) {
    log.debug('%s: cannot cache the decompressed kernel: %s', options.name, error);
  }
  return { vmlinux, bzImage };
}

/**
 * Inflates a gzip member (RFC 1952) that may be followed by other bytes (the size trailer, or
 * the rest of the image), which zlib's gunzip refuses: the header is skipped here and the
 * deflate stream inflated raw, which stops at its end.
 */
function gunzip(data: Uint8Array, name: string): Uint8Array {
  const FHCRC = 0x02;
  const FEXTRA = 0x04;
  const FNAME = 0x08;
  const FCOMMENT = 0x10;
  const flags = data[3] ?? 0;
  if (data[2] !== 8) throw new KernelLoadError(`${name}: gzip payload is not deflate`);
  const truncated = (): never => {
    throw new KernelLoadError(`${name}: truncated gzip header`);
  };
  const afterString = (from: number): number => {
    const nul = data.indexOf(0, from);
    return nul < 0 ? truncated() : nul + 1;
  };
  let at = 10;
  if (flags & FEXTRA) at += 2 + u16(data, at);
  if (flags & FNAME) at = afterString(at);
  if (flags & FCOMMENT) at = afterString(at);
  if (flags & FHCRC) at += 2;
  if (at >= data.length) truncated();
  try {
    return inflateRawSync(data.subarray(at));
  } catch (error) {
    throw new KernelLoadError(`${name}: bad gzip payload: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The NUL-terminated string at 0x200 + `pointer`, which must lie in the setup code. */
function readVersionString(
  image: Uint8Array,
  pointer: number,
  setupSects: number,
): string | undefined {
  if (pointer === 0) return undefined;
  const start = pointer + 0x200;
  const limit = Math.min((setupSects + 1) * 512, image.length);
  if (start >= limit) return undefined;
  let end = image.indexOf(0, start);
  if (end < 0 || end > limit) end = limit;
  const text = Buffer.from(image.subarray(start, end)).toString('latin1');
  return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
}

function findMagic(code: Uint8Array): number | undefined {
  let best: number | undefined;
  for (const magic of SCAN_MAGIC) {
    const first = magic[0] ?? 0;
    for (
      let i = code.indexOf(first);
      i >= 0 && i < (best ?? code.length);
      i = code.indexOf(first, i + 1)
    ) {
      if (magic.every((b, k) => code[i + k] === b)) {
        best = i;
        break;
      }
    }
  }
  return best;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (u16(b, at) | (u16(b, at + 2) << 16)) >>> 0;
}

function u64(b: Uint8Array, at: number): bigint {
  return BigInt(u32(b, at)) | (BigInt(u32(b, at + 4)) << 32n);
}

function protocol(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

function hexBytes(b: Uint8Array, n: number): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}
