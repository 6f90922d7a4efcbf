/**
 * The project's cache folder, and the two rules every cached file follows: it appears under its
 * final name only once complete (built under a temporary name, then renamed), and work that
 * several processes could start at once (the test runner runs test files in parallel) is done
 * by one of them while the others wait on a lock file.
 *
 * The folder is `$VMD_CACHE_DIR` when set, else `.cache` in the project root; git ignores it.
 * Names inside carry what they were made from (a package version, a content hash), so a stale
 * entry is never reused and a second run finds everything already made.
 */

import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The project root: this file is compiled to dist/src/images/cache.js. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The cache folder: `$VMD_CACHE_DIR`, or `.cache` in the project root. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.VMD_CACHE_DIR;
  return dir !== undefined && dir !== '' ? resolve(dir) : join(PROJECT_ROOT, '.cache');
}

/** True when `path` exists (file, folder or anything else). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns `path`, making it first when it is missing: `make` writes a temporary path beside
 * it (a file or a folder) that is renamed to `path` once complete, so a failed or interrupted
 * run never leaves a half-made entry under the final name.
 */
export async function cachedPath(
  path: string,
  make: (partial: string) => Promise<void>,
): Promise<string> {
  if (await exists(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  await rm(partial, { recursive: true, force: true });
  try {
    await make(partial);
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  return path;
}

/** How long {@link withLock} waits for another process before it gives up. */
const LOCK_TIMEOUT_MS = 30 * 60 * 1000;
const LOCK_POLL_MS = 200;

/**
 * Runs `work` while holding the lock file `lockPath` (created exclusively, holding our process
 * id). Another process holding it is waited for; a lock left by a process that no longer runs
 * is taken over. `onWait` is called once if we have to wait, with the holder's process id.
 */
export async function withLock<T>(
  lockPath: string,
  work: () => Promise<T>,
  onWait?: (holder: number) => void,
): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  let waited = false;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await lockHolder(lockPath);
    if (holder === undefined ? await olderThan(lockPath, 10_000) : !isRunning(holder)) {
      await rm(lockPath, { force: true }); // stale: its process is gone, or it never wrote one
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`${lockPath}: still locked by process ${holder ?? '?'} after 30 minutes`);
    }
    if (!waited && holder !== undefined) {
      // The holder may not have written its id yet; report it once we know it.
      onWait?.(holder);
      waited = true;
    }
    await sleep(LOCK_POLL_MS);
  }
  try {
    return await work();
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** The process id in a lock file, or undefined while it is being written or unreadable. */
async function lockHolder(lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return false; // gone meanwhile: the next attempt to create it decides
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
