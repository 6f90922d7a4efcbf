import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { initLog } from '../common/log.js';
import {
  openClient,
  openDescriptorCount,
  readExactly,
  readUntil,
  waitFor,
} from '../sys/testing.js';
import { openPty } from '../sys/pty.js';
import { DEFAULT_CONSOLE_BUFFER_BYTES, PtyConsole } from './pty_console.js';

/** Opens and closes clients of one console's slave, as `vmctl console` would. */
interface Clients {
  attach: () => number;
  detach: (fd: number) => void;
}

/** Opens a console for `body` and closes it afterwards, with any clients `body` left open. */
async function withConsole(
  body: (console: PtyConsole, clients: Clients) => Promise<void>,
  options: { bufferBytes?: number } = {},
): Promise<void> {
  const console = PtyConsole.open(options);
  const open = new Set<number>();
  try {
    await body(console, {
      attach: () => {
        const fd = openClient(console.path);
        open.add(fd);
        return fd;
      },
      detach: (fd) => {
        open.delete(fd);
        closeSync(fd);
      },
    });
  } finally {
    console.close();
    for (const fd of open) closeSync(fd);
  }
}

/** Collects what clients type, and lets a test wait for a given amount of it. */
function collectInput(console: PtyConsole): { until: (text: string) => Promise<string> } {
  let received = '';
  console.onInput((bytes) => {
    received += Buffer.from(bytes).toString('latin1');
  });
  return {
    async until(text: string): Promise<string> {
      await waitFor(
        () => received.includes(text),
        () => `expected input ${JSON.stringify(text)}, got ${JSON.stringify(received)}`,
      );
      const taken = received;
      received = '';
      return taken;
    },
  };
}

/**
 * Output made of numbered 8-byte records (`00000042` .. as `0000042\n`), so any run of it
 * says where in the stream it came from.
 */
function numberedOutput(records: number): Buffer {
  return Buffer.from(
    Array.from({ length: records }, (_, i) => `${String(i).padStart(7, '0')}\n`).join(''),
  );
}

test('output written with nobody attached is read by the first client', async () => {
  await withConsole(async (console, { attach }) => {
    assert.match(console.path, /^\/dev\/pts\/\d+$/);
    const boot = numberedOutput(1000); // 8000 bytes: the kernel's queue holds them all
    for (let at = 0; at < boot.length; at += 100) console.write(boot.subarray(at, at + 100));
    const client = attach();
    assert.deepEqual(await readExactly(client, boot.length), boot);
    assert.equal(console.droppedBytes, 0);
  });
});

test('clients attach, read, type and detach in turn', async () => {
  await withConsole(async (console, { attach, detach }) => {
    const input = collectInput(console);
    const first = attach();
    console.write(Buffer.from('login: '));
    assert.equal((await readExactly(first, 7)).toString(), 'login: ');
    writeSync(first, 'root\r');
    assert.equal(await input.until('\r'), 'root\r', 'raw input: CR stays CR');
    detach(first);

    console.write(Buffer.from('while detached\n'));
    const second = attach();
    assert.equal((await readExactly(second, 15)).toString(), 'while detached\n');
    writeSync(second, '\x03\x1b[A');
    assert.equal(await input.until('[A'), '\x03\x1b[A', 'raw input: ^C is a byte, not a signal');
    console.write(Buffer.from('still here\n'));
    assert.equal((await readExactly(second, 11)).toString(), 'still here\n');
  });
});

test('a client in another process talks to the console both ways', async () => {
  await withConsole(async (console) => {
    const input = collectInput(console);
    // As cu(1) would: open the slave, type, and read the answer.
    const script = `
      const fs = require('node:fs');
      const fd = fs.openSync(process.argv[1], fs.constants.O_RDWR | fs.constants.O_NOCTTY);
      fs.writeSync(fd, 'ping\\n');
      let text = '';
      const buffer = Buffer.alloc(64);
      while (!text.includes('pong')) text += buffer.toString('latin1', 0, fs.readSync(fd, buffer));
      process.stdout.write(text);
    `;
    const child = spawn(process.execPath, ['-e', script, console.path], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // Only a safety net: a client that never got its answer is killed, failing the test.
      timeout: 60_000,
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      assert.equal(await input.until('\n'), 'ping\n');
      console.write(Buffer.from('pong'));
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, 'the client exit status');
      assert.equal(stdout, 'pong', 'what the client read');
    } finally {
      child.kill();
    }
  });
});

test('far more output than the bound, with nobody reading: the newest survives', async () => {
  await withConsole(async (console, { attach }) => {
    const output = numberedOutput(128 * 1024); // 1 MiB
    assert.doesNotThrow(() => {
      for (let at = 0; at < output.length; at += 1000)
        console.write(output.subarray(at, at + 1000));
    });
    assert.ok(console.pendingBytes <= DEFAULT_CONSOLE_BUFFER_BYTES, `${console.pendingBytes}`);
    assert.ok(console.droppedBytes > 0, 'something was dropped');

    const client = attach();
    const last = output.subarray(-8);
    const received = await readUntil(client, (r) => r.subarray(-8).equals(last), 'the last record');
    // One unbroken run of the newest output: the oldest was dropped, nothing in between.
    assert.ok(
      received.equals(output.subarray(output.length - received.length)),
      `expected the last ${received.length} bytes of the output, got a run starting ` +
        JSON.stringify(received.subarray(0, 16).toString('latin1')),
    );
    assert.ok(
      received.length >= DEFAULT_CONSOLE_BUFFER_BYTES,
      `at least the bound comes through: ${received.length} bytes`,
    );
    assert.ok(received.length < output.length, `not everything came through: ${received.length}`);
    assert.equal(console.pendingBytes, 0);
  });
});

test('with no buffer of its own the console drops new output while the pty is full', async () => {
  await withConsole(
    async (console, { attach }) => {
      const output = numberedOutput(16 * 1024); // 128 KiB
      for (let at = 0; at < output.length; at += 1000)
        console.write(output.subarray(at, at + 1000));
      assert.equal(console.pendingBytes, 0);
      const client = attach();
      // Nothing was discarded from the kernel's queue, so every byte is either there or counted.
      const kept = output.length - console.droppedBytes;
      assert.ok(kept > 0 && kept < output.length, `kept ${kept} bytes`);
      assert.deepEqual(await readExactly(client, kept), output.subarray(0, kept), 'the oldest');
    },
    { bufferBytes: 0 },
  );
});

test('close releases both descriptors, and the console is quiet afterwards', () => {
  PtyConsole.open().close(); // the first use loads the C library and may open descriptors
  const before = openDescriptorCount();
  const console = PtyConsole.open();
  assert.equal(openDescriptorCount(), before + 2, 'a console holds the master and the slave');
  console.write(Buffer.alloc(100_000)); // leaves output waiting
  console.close();
  assert.equal(openDescriptorCount(), before, 'after close');
  assert.doesNotThrow(() => {
    console.write(Buffer.from('late'));
    console.close();
  });
});

test('a listener that throws is logged and does not stop the others', async () => {
  const lines: string[] = [];
  initLog('vm/test', { sink: (line) => lines.push(line), journal: false });
  try {
    await withConsole(async (console, { attach }) => {
      console.onInput(() => {
        throw new Error('listener bug');
      });
      const input = collectInput(console);
      writeSync(attach(), 'x');
      assert.equal(await input.until('x'), 'x');
      assert.deepEqual(lines, [
        `vm/test: console ${console.path}: input listener failed: Error: listener bug`,
      ]);
    });
  } finally {
    initLog('vmd');
  }
});

test('a bad buffer size is refused', () => {
  assert.throws(() => PtyConsole.open({ bufferBytes: -1 }), RangeError);
  assert.throws(() => PtyConsole.open({ bufferBytes: 1.5 }), RangeError);
});

test('a console adopts a pty opened elsewhere, and owns its descriptors from then on', async () => {
  PtyConsole.adopt(openPty()).close(); // the first use loads the C library
  const pty = openPty();
  const before = openDescriptorCount();
  const console = PtyConsole.adopt(pty);
  const client = openClient(pty.path);
  try {
    assert.equal(console.path, pty.path);
    assert.equal(openDescriptorCount(), before + 1, 'adopting opens nothing; the client does');
    const input = collectInput(console);
    console.write(Buffer.from('adopted\n'));
    assert.equal((await readExactly(client, 8)).toString(), 'adopted\n');
    writeSync(client, 'typed');
    assert.equal(await input.until('typed'), 'typed');
  } finally {
    console.close();
    closeSync(client);
  }
  assert.equal(openDescriptorCount(), before - 2, 'close() closed the adopted master and slave');
});

test('a pty that is not the one named is refused, and nothing is closed', () => {
  const pty = openPty();
  const other = openPty();
  const devNull = openSync('/dev/null', 'r+');
  try {
    assert.throws(() => PtyConsole.adopt({ ...pty, path: other.path }), {
      code: 'EINVAL',
      message: new RegExp(`is the master of ${pty.path}, not of ${other.path}`),
    });
    assert.throws(() => PtyConsole.adopt({ ...pty, slave: other.slave }), {
      code: 'EINVAL',
      message: new RegExp(`is not the slave ${pty.path}`),
    });
    assert.throws(() => PtyConsole.adopt({ master: devNull, slave: devNull, path: pty.path }), {
      code: 'ENOTTY',
    });
    // Still open: each of these would throw EBADF otherwise.
    for (const fd of [pty.master, pty.slave, other.master, other.slave]) fstatSync(fd);
  } finally {
    for (const fd of [pty.master, pty.slave, other.master, other.slave, devNull]) closeSync(fd);
  }
});
