import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { test } from 'node:test';

import { checkCall, errnoException, errnoName, lazyBindings, libc } from './libc.js';

const close = lazyBindings(() => libc().func('int close(int fd)') as (fd: number) => number);

test('a failed C call becomes an error shaped as node:fs shapes its errors', () => {
  assert.throws(
    () => checkCall(close()(-1), 'close'),
    (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EBADF', `code: ${error.code}`);
      assert.equal(error.errno, -constants.errno.EBADF, `errno: ${error.errno}`);
      assert.equal(error.syscall, 'close');
      assert.equal(error.path, undefined);
      assert.equal(error.message, 'EBADF: bad file descriptor, close');
      return true;
    },
  );
});

test('a successful C call passes its result through', () => {
  const getpid = libc().func('int getpid()') as () => number;
  assert.equal(checkCall(getpid(), 'getpid'), process.pid);
});

test('an error about a file names it, as node:fs does', () => {
  const error = errnoException('open', constants.errno.ENOENT, '/nonexistent');
  assert.equal(error.message, "ENOENT: no such file or directory, open '/nonexistent'");
  assert.equal(error.path, '/nonexistent');
  assert.equal(error.errno, -constants.errno.ENOENT);
});

test('errno values are named as libuv names them, and unknown ones by number', () => {
  assert.equal(errnoName(constants.errno.EAGAIN), 'EAGAIN');
  assert.equal(errnoName(constants.errno.EPERM), 'EPERM');
  // ENOLCK is not one of libuv's codes; os.constants names it.
  assert.equal(errnoName(constants.errno.ENOLCK), 'ENOLCK');
  assert.equal(
    errnoException('flock', constants.errno.ENOLCK).message,
    'ENOLCK: no locks available, flock',
  );
  assert.equal(errnoName(9999), 'E9999');
  assert.equal(errnoException('ioctl', 9999).message, 'E9999: unknown error 9999, ioctl');
});

test('lazy bindings are made once, on the first call', () => {
  let made = 0;
  const bindings = lazyBindings(() => ({ serial: ++made }));
  assert.equal(made, 0, 'nothing is bound before the first call');
  assert.equal(bindings().serial, 1);
  assert.equal(bindings().serial, 1);
  assert.equal(made, 1, 'bound once');
});
