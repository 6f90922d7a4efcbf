import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { lockFile, unlockFile } from './flock.js';

let dir = '';
let path = '';
/** Descriptors a test opened; closed after each test that used them. */
const opened: number[] = [];

function open(): number {
  const fd = openSync(path, 'r+');
  opened.push(fd);
  return fd;
}

function closeAll(): void {
  for (const fd of opened.splice(0)) closeSync(fd);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmd-flock-'));
  path = join(dir, 'disk.img');
  writeFileSync(path, 'image');
});

after(() => {
  closeAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Asserts that `take` fails because the file is in use. */
function assertInUse(take: () => void, what: string): void {
  assert.throws(
    take,
    (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EWOULDBLOCK', `${what}: code ${error.code}`);
      assert.equal(error.syscall, 'flock');
      assert.match(error.message, /file is in use/, what);
      return true;
    },
    `${what}: expected the lock to be refused`,
  );
}

test('an exclusive lock shuts out every other open of the file', () => {
  try {
    const first = open();
    const second = open();
    lockFile(first, 'exclusive');
    assertInUse(() => {
      lockFile(second, 'exclusive');
    }, 'exclusive after exclusive');
    assertInUse(() => {
      lockFile(second, 'shared');
    }, 'shared after exclusive');
    unlockFile(first);
    lockFile(second, 'exclusive');
  } finally {
    closeAll();
  }
});

test('shared locks coexist, and keep an exclusive one out', () => {
  try {
    const first = open();
    const second = open();
    const third = open();
    lockFile(first, 'shared');
    lockFile(second, 'shared');
    assertInUse(() => {
      lockFile(third, 'exclusive');
    }, 'exclusive after two shared');
  } finally {
    closeAll();
  }
});

test('closing the descriptor releases its lock', () => {
  try {
    const first = openSync(path, 'r');
    lockFile(first, 'exclusive');
    closeSync(first);
    lockFile(open(), 'exclusive');
  } finally {
    closeAll();
  }
});

test('the error names the file when given its path', () => {
  try {
    const first = open();
    lockFile(first, 'exclusive');
    assert.throws(
      () => {
        lockFile(open(), 'shared', path);
      },
      (error: NodeJS.ErrnoException) => {
        assert.equal(error.path, path);
        assert.equal(
          error.message,
          `${path}: file is in use (another open of it holds an exclusive lock)`,
        );
        return true;
      },
    );
  } finally {
    closeAll();
  }
});

test('a bad descriptor is an EBADF error, not "in use"', () => {
  assert.throws(
    () => {
      lockFile(-1, 'shared');
    },
    { code: 'EBADF', syscall: 'flock' },
  );
  assert.throws(
    () => {
      unlockFile(-1);
    },
    { code: 'EBADF', syscall: 'flock' },
  );
});

test('a lock held by another process keeps this one out until that process ends', async () => {
  // The child takes an exclusive lock with this same module, says so, and holds it until its
  // standard input closes.
  const flockModule = new URL('./flock.js', import.meta.url).href;
  const script = `
    import { openSync } from 'node:fs';
    const { lockFile } = await import(${JSON.stringify(flockModule)});
    lockFile(openSync(process.argv[1], 'r+'), 'exclusive');
    process.stdout.write('locked\\n');
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, path], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // Only a safety net: a child left waiting is killed, failing the test.
    timeout: 60_000,
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    const [line] = (await Promise.race([
      once(child.stdout, 'data'),
      exited.then(() => assert.fail(`the child exited before locking: ${stderr}`)),
    ])) as [Buffer];
    assert.equal(line.toString(), 'locked\n');
    const fd = open();
    assertInUse(() => {
      lockFile(fd, 'shared');
    }, 'shared while the child holds exclusive');
    child.stdin.end();
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, `the child's exit status (stderr: ${stderr})`);
    lockFile(fd, 'exclusive');
  } finally {
    child.kill();
    closeAll();
  }
});
