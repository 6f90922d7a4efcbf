/**
 * The Debian guest image for integration tests, made once: the first test that asks downloads
 * and builds it into the project's cache (`npm run guest-image` does the same), every later
 * ask, in this process or another test file's, finds it there. Needs apt, so tests skip on a
 * host without it.
 */

import { spawnSync } from 'node:child_process';
import { prepareGuestImage } from '../../src/images/guest_image.js';
import type { GuestImage } from '../../src/images/guest_image.js';

let image: Promise<GuestImage> | undefined;

/** The guest image (kernel bzImage and gzipped initramfs), prepared on first use. */
export function debianGuest(): Promise<GuestImage> {
  image ??= prepareGuestImage();
  return image;
}

/** Why the Debian guest tests cannot run here, or false when they can (apt is present). */
export function withoutApt(): string | false {
  const probe = spawnSync('apt-get', ['--version'], { stdio: 'ignore' });
  return probe.status === 0 ? false : 'needs apt-get (a Debian host) to fetch the guest packages';
}
