import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { PROJECT_ROOT, cacheRoot, cachedPath, withLock } from './cache.js';
import { ToolError, runTool } from './tool.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-cache-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the cache folder', () => {
  test('is .cache in the project root unless VMD_CACHE_DIR says otherwise', () => {
    assert.ok(existsSync(join(PROJECT_ROOT, 'package.json')), PROJECT_ROOT);
    assert.equal(cacheRoot({}), join(PROJECT_ROOT, '.cache'));
    assert.equal(cacheRoot({ VMD_CACHE_DIR: '/var/cache/vmd' }), '/var/cache/vmd');
  });

  test('cachedPath() makes a missing entry once, under its final name only when complete', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'entry');
    let made = 0;
    const make = async (partial: string): Promise<void> => {
      made++;
      await writeFile(partial, 'content');
    };
    assert.equal(await cachedPath(path, make), path);
    assert.equal(await cachedPath(path, make), path);
    assert.equal(made, 1);
    assert.equal(readFileSync(path, 'utf8'), 'content');

    const failing = join(dir, 'failing');
    await assert.rejects(
      cachedPath(failing, async (partial) => {
        await writeFile(partial, 'half');
        throw new Error('interrupted');
      }),
      /interrupted/,
    );
    assert.deepEqual(readdirSync(dir).sort(), ['sub'], 'no entry and no temporary left');
  });

  test('withLock() runs one holder at a time and releases the lock on failure', async () => {
    const lock = join(tempDir(), '.lock');
    const events: string[] = [];
    const job = (name: string) => async (): Promise<void> => {
      events.push(`${name} in`);
      await sleep(50);
      events.push(`${name} out`);
    };
    let waitedFor: number | undefined;
    await Promise.all([
      withLock(lock, job('a'), (holder) => (waitedFor = holder)),
      withLock(lock, job('b'), (holder) => (waitedFor = holder)),
    ]);
    // Either may win the race for the lock; what matters is that the other waits for it.
    const [first, second] = events[0] === 'a in' ? ['a', 'b'] : ['b', 'a'];
    assert.deepEqual(events, [`${first} in`, `${first} out`, `${second} in`, `${second} out`]);
    assert.equal(waitedFor, process.pid);
    await assert.rejects(
      withLock(lock, () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(existsSync(lock), false);
  });

  test('withLock() takes over a lock whose process is gone', async () => {
    const lock = join(tempDir(), '.lock');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(lock, `${dead.stdout.toString()}\n`);
    assert.equal(await withLock(lock, () => Promise.resolve('ran')), 'ran');
  });
});

describe('runTool()', () => {
  test('feeds standard input and returns standard output', async () => {
    const { stdout } = await runTool('tr', ['a-z', 'A-Z'], { input: Buffer.from('hello') });
    assert.equal(stdout.toString(), 'HELLO');
  });

  test('a missing tool names its Debian package; a failure quotes the command and stderr', async () => {
    await assert.rejects(
      runTool('xz-not-a-real-tool', []),
      /^ToolError: xz-not-a-real-tool is not installed \(Debian: apt-get install xz-not-a-real-tool\)$/,
    );
    await assert.rejects(runTool('sh', ['-c', 'echo oops >&2; exit 3']), (e: unknown) => {
      assert.ok(e instanceof ToolError);
      assert.equal(e.status, 3);
      assert.equal(e.message, 'sh -c echo oops >&2; exit 3 exited with status 3: oops');
      return true;
    });
  });
});
