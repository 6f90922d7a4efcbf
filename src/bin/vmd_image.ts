#!/usr/bin/env node
/**
 * vmd-image: makes the Linux test guest from Debian's packages — the kernel behind
 * `linux-image-amd64` and an initramfs around `busybox-static` — in the project's cache, and
 * prints where the files are. A second run with the same package versions does no work.
 */

import { fail as failWith, parseCommandLine } from '../common/cli.js';
import { initLog, log } from '../common/log.js';
import { prepareGuestImage } from '../images/guest_image.js';
import type { InitramfsCompression } from '../images/initramfs.js';

const USAGE = 'usage: vmd-image [--json] [--no-compress] [--cache dir] [--kernel-package name]';

function fail(message: string, status = 1): never {
  failWith('vmd-image', message, status);
}

async function main(): Promise<void> {
  const parsed = parseCommandLine('vmd-image', USAGE, {
    options: {
      json: { type: 'boolean', default: false },
      'no-compress': { type: 'boolean', default: false },
      cache: { type: 'string' },
      'kernel-package': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (parsed === undefined) return;
  const { values } = parsed;
  initLog('vmd-image');
  const compression: InitramfsCompression = values['no-compress'] ? 'none' : 'gzip';
  let image;
  try {
    image = await prepareGuestImage({
      compression,
      cacheDir: values.cache,
      kernelPackage: values['kernel-package'],
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  for (const deb of image.downloaded) log.info('downloaded %s', deb);
  if (image.downloaded.length === 0) log.info('nothing downloaded, everything was in the cache');
  if (values.json) {
    process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
    return;
  }
  const { kernel, initramfs } = image;
  process.stdout.write(
    `kernel     ${kernel.path}\n` +
      `release    ${kernel.release}\n` +
      `package    ${kernel.package} ${kernel.version}\n` +
      `initramfs  ${initramfs.path}\n` +
      `busybox    ${initramfs.busyboxVersion}\n`,
  );
}

await main();
