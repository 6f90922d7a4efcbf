/**
 * `vmctl create [-b base] [-s size] disk`: a new raw or qcow2 image, as vmctl makes it.
 *
 * - The size is at least 1 MiB and rounded down to a whole MiB.
 * - raw: a sparse file of that size.
 * - qcow2: version 3, 64 KiB clusters, 16-bit refcounts, no data clusters.
 * - A base image (`-b`) needs qcow2: the new image stores the base's name and format and
 *   starts out reading everything from it. Its size defaults to the base's virtual size and
 *   must equal it when given. A relative base name is relative to the new image's folder (as
 *   the header stores it and as it is opened later).
 * - An existing file is never replaced.
 *
 * `vmctl create -i disk` is {@link convertImage}: the contents of an existing image of either
 * format copied into a new one of either format, in 64 KiB chunks of which those that are
 * all zeros are not written (so a raw image stays sparse and a qcow2 image small).
 */

import { unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { DiskError, type DiskFormat, type DiskImage } from './image.js';
import { openImage } from './open.js';
import { createQcow2 } from './qcow2_create.js';
import { createRaw } from './raw.js';

/** One mebibyte, vmctl's unit of image sizes. */
const MIB = 1024 * 1024;

/** Options of {@link createImage}. */
export interface CreateOptions {
  /** The new image's format. */
  format: DiskFormat;
  /** Virtual size in bytes; optional with a base image. */
  size?: number;
  /** A base image (qcow2 only); relative names are relative to the new image's folder. */
  base?: string;
}

/** What {@link createImage} made. */
export interface CreatedImage {
  path: string;
  format: DiskFormat;
  /** Virtual size in bytes. */
  size: number;
}

/** Creates a new disk image at `path` as `vmctl create` does. */
export async function createImage(path: string, options: CreateOptions): Promise<CreatedImage> {
  let size: number | undefined;
  if (options.size !== undefined) {
    if (!Number.isSafeInteger(options.size) || options.size < MIB) {
      throw new DiskError('invalid', `${path}: size must be at least 1MB`);
    }
    size = Math.floor(options.size / MIB) * MIB;
  }
  if (options.base === undefined) {
    if (size === undefined) throw new DiskError('invalid', `${path}: missing size`);
    if (options.format === 'raw') await createRaw(path, size);
    else await createQcow2(path, { size });
    return { path, format: options.format, size };
  }
  if (options.format !== 'qcow2') {
    throw new DiskError('invalid', `${path}: a base image needs the qcow2 format`);
  }
  const base = options.base;
  const basePath = isAbsolute(base) ? base : join(dirname(path), base);
  let image;
  try {
    image = await openImage(basePath, { readOnly: true });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new DiskError('invalid', `${path}: base image ${base}: ${why}`, { cause: err });
  }
  const baseSize = image.size;
  const baseFormat = image.format;
  await image.close();
  if (size !== undefined && size !== baseSize) {
    throw new DiskError(
      'invalid',
      `${path}: size ${size} does not match the base image's size ${baseSize}`,
    );
  }
  await createQcow2(path, { size: baseSize, backingFile: base, backingFormat: baseFormat });
  return { path, format: 'qcow2', size: baseSize };
}

/** The chunk {@link convertImage} copies in, as vmctl's 64 KiB buffers. */
export const CONVERT_CHUNK = 64 * 1024;

/** Where a conversion failed, for vmctl's message. */
export type ConvertStage = 'open-input' | 'size' | 'create' | 'open-output' | 'read' | 'write';

/** A failed {@link convertImage}: the stage and what went wrong there. */
export class ConvertError extends Error {
  override name = 'ConvertError';

  constructor(
    /** Where it failed. */
    readonly stage: ConvertStage,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link convertImage}. */
export interface ConvertOptions {
  /** The new image's format. */
  format: DiskFormat;
  /** The input's format; found as vmd finds it when absent. */
  inputFormat?: DiskFormat;
  /** The new image's virtual size: at least the input's; the input's by default. */
  size?: number;
  /** Called after each chunk with the bytes of the input done so far and its size. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link convertImage} made. */
export interface ConvertedImage extends CreatedImage {
  /** Bytes written: the chunks that were not all zeros. */
  written: number;
  /** The input's virtual size. */
  inputSize: number;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `step`, turning what it throws into a {@link ConvertError} of `stage`. */
async function stage<T>(name: ConvertStage, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new ConvertError(name, reason(error), { cause: error });
  }
}

/**
 * Creates a new image at `output` with the contents of the image at `input` (vmctl's
 * `ctl_convert`). The size, the input's or a larger one, is rounded up to a whole MiB; the
 * part past the input's end reads as zeros. The new image is removed if the copy fails.
 */
export async function convertImage(
  input: string,
  output: string,
  options: ConvertOptions,
): Promise<ConvertedImage> {
  const source = await stage('open-input', () =>
    openImage(input, {
      readOnly: true,
      ...(options.inputFormat ? { format: options.inputFormat } : {}),
    }),
  );
  try {
    const wanted = options.size ?? source.size;
    if (wanted < source.size) {
      throw new ConvertError(
        'size',
        `size ${wanted} is smaller than the input's size ${source.size}`,
      );
    }
    const size = Math.max(MIB, Math.ceil(wanted / MIB) * MIB);
    await stage('create', () => createImage(output, { format: options.format, size }));
    try {
      const target = await stage('open-output', () =>
        openImage(output, { format: options.format }),
      );
      let written: number;
      try {
        written = await copyContents(source, target, options.onProgress);
        await stage('write', () => target.flush());
      } finally {
        await target.close();
      }
      return { path: output, format: options.format, size, written, inputSize: source.size };
    } catch (error) {
      await unlink(output).catch(() => undefined);
      throw error;
    }
  } finally {
    await source.close();
  }
}

/** Copies `source` into `target` chunk by chunk, skipping chunks of zeros; returns bytes written. */
async function copyContents(
  source: DiskImage,
  target: DiskImage,
  onProgress: ConvertOptions['onProgress'],
): Promise<number> {
  const chunk = new Uint8Array(CONVERT_CHUNK);
  const zeros = Buffer.alloc(CONVERT_CHUNK);
  let written = 0;
  onProgress?.(0, source.size);
  // Past the input's end everything is zeros: nothing there is written.
  for (let offset = 0; offset < source.size; offset += CONVERT_CHUNK) {
    const length = Math.min(CONVERT_CHUNK, source.size - offset);
    chunk.fill(0);
    await stage('read', () => source.read(offset, chunk.subarray(0, length)));
    if (!zeros.equals(chunk)) {
      // A short last chunk is written padded with zeros; the new size is whole MiBs.
      await stage('write', () => target.write(offset, chunk));
      written += CONVERT_CHUNK;
    }
    onProgress?.(offset + length, source.size);
  }
  return written;
}
