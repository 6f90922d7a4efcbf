import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { duplicateDescriptor } from './descriptors.js';

const dir = mkdtempSync(join(tmpdir(), 'vmd-descriptors-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('duplicateDescriptor gives a second descriptor of the same file that outlives the first', () => {
  const path = join(dir, 'file');
  writeFileSync(path, 'abcdef');
  const fd = openSync(path, 'r');
  const copy = duplicateDescriptor(fd);
  assert.notEqual(copy, fd);
  const head = Buffer.alloc(3);
  readSync(fd, head);
  closeSync(fd);
  const rest = Buffer.alloc(3);
  // The copy shares the file offset: it reads on where the first left off.
  assert.equal(readSync(copy, rest), 3);
  assert.equal(`${head.toString()}|${rest.toString()}`, 'abc|def');
  closeSync(copy);
  assert.throws(
    () => duplicateDescriptor(copy),
    { code: 'EBADF', syscall: 'fcntl' },
    'a closed descriptor cannot be copied',
  );
});
