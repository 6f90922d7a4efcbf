import assert from 'node:assert/strict';
import { closeSync, constants, writeSync } from 'node:fs';
import { test } from 'node:test';

import { setNonBlocking } from './descriptors.js';
import { discardUnreadInput, openPty, slavePath, type Pty } from './pty.js';
import {
  descriptorFlags,
  FDINFO_CLOEXEC,
  openClient,
  readAvailable,
  readExactly,
  readUntil,
} from './testing.js';

/** Opens a pty and a client of its slave for `body`, and closes all three afterwards. */
async function withPty(body: (pty: Pty, client: number) => Promise<void>): Promise<void> {
  const pty = openPty();
  const client = openClient(pty.path);
  try {
    await body(pty, client);
  } finally {
    closeSync(client);
    closeSync(pty.master);
    closeSync(pty.slave);
  }
}

test('a new pty has a slave under /dev/pts, both ends close-on-exec, the master non-blocking', () => {
  const pty = openPty();
  try {
    assert.match(pty.path, /^\/dev\/pts\/\d+$/);
    assert.equal(slavePath(pty.master), pty.path);
    const master = descriptorFlags(pty.master);
    const slave = descriptorFlags(pty.slave);
    assert.ok(master & FDINFO_CLOEXEC, `master flags 0o${master.toString(8)}: no O_CLOEXEC`);
    assert.ok(slave & FDINFO_CLOEXEC, `slave flags 0o${slave.toString(8)}: no O_CLOEXEC`);
    assert.ok(master & constants.O_NONBLOCK, `master flags 0o${master.toString(8)}: blocking`);
    assert.equal(slave & constants.O_NONBLOCK, 0, `slave flags 0o${slave.toString(8)}`);
    assert.equal(readAvailable(pty.master).length, 0, 'an empty master reads nothing at once');
  } finally {
    closeSync(pty.master);
    closeSync(pty.slave);
  }
});

test('bytes from the master reach a client of the slave unchanged, with no echo', async () => {
  await withPty(async (pty, client) => {
    // In cooked mode ^C would be a signal, DEL an erase, CR a newline, and nothing would be
    // readable before the line ended.
    const sent = Buffer.from('a\nb\r\x03\x7f\x00\xff\x1b[0m');
    writeSync(pty.master, sent);
    assert.deepEqual(await readExactly(client, sent.length), sent);
    // Had the slave echoed, the echo would reach the master before this.
    writeSync(client, 'Z');
    assert.deepEqual(await readExactly(pty.master, 1), Buffer.from('Z'), 'no echo came first');
  });
});

test('bytes from a client reach the master unchanged: no LF to CRLF', async () => {
  await withPty(async (pty, client) => {
    const sent = Buffer.from('line one\nline two\r\n\x04\x1a');
    writeSync(client, sent);
    assert.deepEqual(await readExactly(pty.master, sent.length), sent);
  });
});

test('discarding unread input drops what the master wrote and no client read', async () => {
  await withPty(async (pty, client) => {
    writeSync(pty.master, 'stale');
    // tcflush empties both the kernel's buffers on the way in and the line discipline's queue,
    // under the lock the kernel's mover takes, so 'stale' is gone wherever it was.
    discardUnreadInput(pty.slave);
    writeSync(pty.master, 'fresh');
    const received = await readUntil(client, (r) => r.includes('fresh'), '"fresh"');
    assert.equal(received.toString(), 'fresh');
  });
});

test('setNonBlocking sets and clears O_NONBLOCK and keeps the other flags', () => {
  const pty = openPty();
  try {
    const before = descriptorFlags(pty.slave);
    setNonBlocking(pty.slave);
    assert.equal(descriptorFlags(pty.slave), before | constants.O_NONBLOCK);
    setNonBlocking(pty.slave);
    assert.equal(descriptorFlags(pty.slave), before | constants.O_NONBLOCK, 'twice is once');
    setNonBlocking(pty.slave, false);
    assert.equal(descriptorFlags(pty.slave), before, 'cleared again');
    assert.throws(
      () => {
        setNonBlocking(-1);
      },
      { code: 'EBADF', syscall: 'fcntl' },
    );
  } finally {
    closeSync(pty.master);
    closeSync(pty.slave);
  }
});
