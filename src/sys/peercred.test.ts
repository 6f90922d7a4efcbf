import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { peerCredentials, type PeerCredentials } from './peercred.js';

/** The uid and gid of `nobody` on Debian, for a client that is not root. */
const NOBODY = 65534;

let dir = '';
let path = '';
let server: Server;
/** Server-side sockets as they arrive; each test takes the one its client made. */
const accepted: Socket[] = [];
let wakeAccept: (() => void) | null = null;

async function nextAccepted(): Promise<Socket> {
  while (accepted.length === 0) await new Promise<void>((resolve) => (wakeAccept = resolve));
  const socket = accepted.shift();
  assert.ok(socket !== undefined);
  return socket;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmd-peercred-'));
  // Searchable by everyone, so that a client running as another user can reach the socket.
  chmodSync(dir, 0o755);
  path = join(dir, 'control.sock');
  server = createServer((socket) => {
    accepted.push(socket);
    wakeAccept?.();
  });
  server.listen(path);
  await once(server, 'listening');
  chmodSync(path, 0o777);
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function ownCredentials(): PeerCredentials {
  return { pid: process.pid, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
}

test('both ends of a unix socket see who is at the other end', async () => {
  const client = createConnection(path);
  await once(client, 'connect');
  const serverSide = await nextAccepted();
  try {
    assert.deepEqual(
      peerCredentials(serverSide),
      ownCredentials(),
      'the client, seen by the server',
    );
    assert.deepEqual(peerCredentials(client), ownCredentials(), 'the server, seen by the client');
  } finally {
    client.destroy();
    serverSide.destroy();
  }
});

test('a client running as another user is seen with its own uid, gid and pid', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to start a client as nobody');
    return;
  }
  // The client connects, says so, and stays until the server hangs up.
  const script = `
    const socket = require('node:net').createConnection(process.argv[1]);
    socket.on('connect', () => process.stdout.write('connected\\n'));
    socket.on('close', () => process.exit(0));
    socket.on('error', (e) => { console.error(e.message); process.exit(2); });
  `;
  const child = spawn(process.execPath, ['-e', script, path], {
    uid: NOBODY,
    gid: NOBODY,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Only a safety net: a child left waiting is killed, failing the test.
    timeout: 60_000,
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    const serverSide = await Promise.race([
      nextAccepted(),
      exited.then(() => assert.fail(`the client exited before connecting: ${stderr}`)),
    ]);
    try {
      assert.deepEqual(peerCredentials(serverSide), { pid: child.pid, uid: NOBODY, gid: NOBODY });
    } finally {
      serverSide.destroy();
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, `the client's exit status (stderr: ${stderr})`);
  } finally {
    child.kill();
  }
});

test('a TCP socket is refused: Linux would report uid -1 for it', async () => {
  const tcpServer = createServer();
  tcpServer.listen(0, '127.0.0.1');
  await once(tcpServer, 'listening');
  const address = tcpServer.address();
  assert.ok(address !== null && typeof address === 'object');
  const client = createConnection(address.port, '127.0.0.1');
  try {
    // Node makes a TCP socket's descriptor only as it connects, after this tick.
    assert.throws(() => peerCredentials(client), /socket has no file descriptor/);
    await once(client, 'connect');
    assert.throws(() => peerCredentials(client), /need a unix socket \(address family 2\)/);
  } finally {
    client.destroy();
    await new Promise((resolve) => tcpServer.close(resolve));
  }
});

test('a socket with no descriptor or no peer gets a clear error', async () => {
  assert.throws(() => peerCredentials(new Socket()), /socket has no handle/);
  const connecting = createConnection(join(dir, 'nobody-listens.sock'));
  connecting.on('error', () => undefined);
  try {
    // Node makes the descriptor at once and connects it later; until then it has no peer.
    assert.throws(() => peerCredentials(connecting), /socket has no peer credentials/);
  } finally {
    connecting.destroy();
  }
  const client = createConnection(path);
  await once(client, 'connect');
  const serverSide = await nextAccepted();
  client.destroy();
  serverSide.destroy();
  assert.throws(() => peerCredentials(client), /socket has no handle/, 'after destroy');
});
