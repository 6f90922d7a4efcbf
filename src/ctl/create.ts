/**
 * `vmctl create [-b base | -i disk] [-s size] disk`, done by vmctl itself without vmd (main.c
 * `ctl_create` and `ctl_convert`), with vmctl's messages: `raw imagefile created` on success,
 * `create imagefile operation failed: File exists` and the like on failure. A copy (`-i`)
 * shows its progress on standard error when that is a terminal.
 */

import { basename } from 'node:path';
import {
  ConvertError,
  convertImage,
  createImage,
  DiskError,
  parseDiskArgument,
  type ConvertStage,
} from '../block/index.js';
import type { CtlCommand } from './args.js';
import { errnoOf } from '../common/errno.js';
import { errorText, fatal, strerror } from './errors.js';
import { fmtScaled } from './fmt_scaled.js';

/** Where `create` writes. */
export interface CreateIo {
  prog: string;
  /** Standard error. */
  stderr: (text: string) => void;
  /** Whether standard error is a terminal (then a copy shows a progress bar). */
  stderrIsTTY: boolean;
}

/** EEXIST, for an image that is already there. */
const EEXIST = 17;

/** vmctl's words for each stage of a failed copy (ctl_convert). */
const CONVERT_MESSAGES: Readonly<Record<ConvertStage, string>> = {
  'open-input': 'failed to open source image file',
  size: 'size cannot be smaller than input disk size',
  create: 'failed to create destination image file',
  'open-output': 'failed to open destination image file',
  read: 'failed to read from source',
  write: 'failed to write to destination',
};

/** err(3)'s errno text for a failed image operation: strerror, else the error's own words. */
function imageErrorText(error: unknown): string {
  const cause = error instanceof ConvertError ? error.cause : error;
  if (cause instanceof DiskError && cause.code === 'exists') return strerror(EEXIST);
  return errnoOf(cause) !== null ? errorText(cause) : errorText(error);
}

/** A progress bar on one terminal line: `disk.raw  45% |*********           |  460M/1.0G`. */
function progressBar(io: CreateIo, name: string): (done: number, total: number) => void {
  const width = 30;
  let last = -1;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.floor((done * 100) / total);
    if (percent === last) return;
    last = percent;
    const filled = Math.round((percent * width) / 100);
    const bar = '*'.repeat(filled) + ' '.repeat(width - filled);
    const amount = `${fmtScaled(done)}/${fmtScaled(total)}`;
    io.stderr(`\r${name} ${String(percent).padStart(3)}% |${bar}| ${amount.padStart(13)}`);
    if (done >= total) io.stderr('\n');
  };
}

/** Runs `vmctl create`; returns the exit status (failures throw a CtlFailure). */
export async function runCreate(
  io: CreateIo,
  command: Extract<CtlCommand, { kind: 'create' }>,
): Promise<number> {
  if (command.input !== null) return await runConvert(io, command, command.input);
  try {
    await createImage(command.path, {
      format: command.format,
      ...(command.size === null ? {} : { size: command.size }),
      ...(command.base === null ? {} : { base: command.base }),
    });
  } catch (error) {
    throw fatal(io.prog, `create imagefile operation failed: ${imageErrorText(error)}`);
  }
  io.stderr(`${io.prog}: ${command.format} imagefile created\n`);
  return 0;
}

async function runConvert(
  io: CreateIo,
  command: Extract<CtlCommand, { kind: 'create' }>,
  input: string,
): Promise<number> {
  const source = parseDiskArgument(input);
  let made;
  try {
    made = await convertImage(source.path, command.path, {
      format: command.format,
      ...(source.format === undefined ? {} : { inputFormat: source.format }),
      ...(command.size === null ? {} : { size: command.size }),
      ...(io.stderrIsTTY ? { onProgress: progressBar(io, basename(command.path)) } : {}),
    });
  } catch (error) {
    if (!(error instanceof ConvertError)) throw error;
    const message = CONVERT_MESSAGES[error.stage];
    // vmctl gives the stage alone; the reason helps, except for the size, which says it all.
    throw fatal(io.prog, error.stage === 'size' ? message : `${message}: ${imageErrorText(error)}`);
  }
  const asked = command.size ?? made.inputSize;
  if (asked < made.size) {
    io.stderr(`${io.prog}: destination size rounded to ${made.size / (1024 * 1024)} megabytes\n`);
  }
  io.stderr(`${io.prog}: ${command.format} imagefile created\n`);
  return 0;
}
