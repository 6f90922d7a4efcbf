import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { decodeMessage, encodeMessage, type Envelope } from './codec.js';
import { ERRNO } from './codes.js';
import { encodeFrame, FrameDecoder, HEADER_SIZE, ProtocolError, type Frame } from './frame.js';
import { SAMPLE_MESSAGES } from './message_samples.js';
import { MESSAGE_CODES, type Message } from './messages.js';
import { Peer } from './peer.js';

const STATUS = SAMPLE_MESSAGES.find((m) => m.type === 'get-info-vm-data');
assert.ok(STATUS !== undefined);

let dir = '';
let path = '';
let server: Server;
/** The errors that ended server-side connections, in order. */
const serverErrors: Error[] = [];
/** The server-side peers, newest last. */
const serverPeers: Peer[] = [];
/** When set, server-side peers are not read (for the backpressure test). */
let stallServer = false;

/** A toy control process: status requests are answered, anything else gets EINVAL. */
async function serve(peer: Peer): Promise<void> {
  while (stallServer) await sleep(5);
  for await (const { id, message } of peer) {
    if (message.type === 'get-info-vm-request') {
      peer.send(STATUS as Message, id);
      peer.send({ type: 'get-info-vm-end-data' }, id);
    } else {
      peer.send({ type: 'fail', error: ERRNO.EINVAL, detail: message.type }, id);
    }
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vmd-peer-'));
  path = join(dir, 'vmd.sock');
  server = createServer((socket) => {
    const peer = new Peer(socket, {
      name: 'control',
      highWaterMark: 4,
      onError: (error) => serverErrors.push(error),
    });
    serverPeers.push(peer);
    void serve(peer);
  });
  server.listen(path);
  await once(server, 'listening');
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

async function connect(): Promise<Socket> {
  const socket = createConnection(path);
  await once(socket, 'connect');
  return socket;
}

/** Writes `bytes` on a new connection and returns the messages read until the server closes. */
async function rawExchange(bytes: Uint8Array): Promise<Message[]> {
  const socket = await connect();
  const received: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk, (frame) => received.push(frame));
  });
  socket.write(bytes);
  await once(socket, 'close');
  decoder.end();
  return received.map(decodeMessage);
}

/** Asks for the status on a new connection, as vmctl would, and returns the replies. */
async function askStatus(id: number): Promise<Envelope[]> {
  const client = new Peer(await connect(), { name: 'vmctl' });
  client.send({ type: 'get-info-vm-request' }, id);
  const replies: Envelope[] = [];
  for await (const envelope of client) {
    replies.push(envelope);
    if (envelope.message.type === 'get-info-vm-end-data') break;
  }
  client.close();
  assert.equal(await client.closed, null);
  return replies;
}

function lastServerError(): Error | undefined {
  return serverErrors[serverErrors.length - 1];
}

test('a unix-socket client gets its status replies with its request id', async () => {
  assert.deepEqual(await askStatus(7), [
    { id: 7, message: STATUS },
    { id: 7, message: { type: 'get-info-vm-end-data' } },
  ]);
});

test('garbage closes that connection with EPROTO; a new connection is still served', async () => {
  const before = serverErrors.length;
  const replies = await rawExchange(new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n'));
  assert.equal(replies.length, 1);
  const fail = replies[0];
  assert.ok(fail?.type === 'fail');
  assert.equal(fail.error, ERRNO.EPROTO);
  assert.match(fail.detail ?? '', /not a vmd frame \(first byte 0x47\)/);
  assert.equal(serverErrors.length, before + 1);
  assert.ok(lastServerError() instanceof ProtocolError);

  assert.equal((await askStatus(8)).length, 2);
});

test('an oversized length closes the connection at once, without waiting for the payload', async () => {
  const head = new Uint8Array(HEADER_SIZE);
  const view = new DataView(head.buffer);
  view.setUint8(0, 0xa1);
  view.setUint16(2, MESSAGE_CODES['load']);
  view.setUint32(8, 0xffffffff);
  const replies = await rawExchange(head);
  assert.equal(replies[0]?.type, 'fail');
  assert.equal((lastServerError() as ProtocolError).code, 'oversized');
  assert.equal((await askStatus(9)).length, 2);
});

test('a valid frame with an invalid message closes the connection', async () => {
  const good = encodeMessage({ type: 'get-info-vm-request' }, 1);
  const bad = encodeFrame({
    type: MESSAGE_CODES['pause-vm'],
    id: 2,
    payload: new TextEncoder().encode('{"vm":{"id":1},"uid":null,"__proto__":{}}'),
  });
  const both = new Uint8Array(good.length + bad.length);
  both.set(good);
  both.set(bad, good.length);
  const replies = await rawExchange(both);
  assert.equal(replies.at(-1)?.type, 'fail');
  const error = lastServerError();
  assert.ok(error instanceof ProtocolError);
  assert.equal(error.code, 'bad-field');
  assert.equal(error.field, '__proto__');
  assert.equal((await askStatus(10)).length, 2);
});

test('keys the peer chose are quoted short and printable in the error sent back', async () => {
  for (const key of ['k'.repeat(100_000), '\u0000\u001b[2J', '\ud800']) {
    const payload = new TextEncoder().encode(JSON.stringify({ [key]: 1 }));
    const replies = await rawExchange(encodeFrame({ type: MESSAGE_CODES.reload, id: 1, payload }));
    const fail = replies[0];
    assert.ok(fail?.type === 'fail' && fail.detail !== null);
    assert.match(fail.detail, /^reload: field ".*" is not a known field$/);
    assert.ok(fail.detail.length < 200);
    assert.equal((lastServerError() as ProtocolError).field, key);
  }
  assert.equal((await askStatus(12)).length, 2);
});

test('a client that vanishes inside a frame is reported as truncated', async () => {
  const socket = await connect();
  const before = serverErrors.length;
  socket.end(encodeMessage({ type: 'reload' }).subarray(0, 5));
  socket.resume();
  await once(socket, 'close');
  while (serverErrors.length === before) await sleep(5);
  assert.equal((lastServerError() as ProtocolError).code, 'truncated');
  assert.equal((await askStatus(11)).length, 2);
});

test('reading pauses while messages wait, and every message arrives in order', async () => {
  stallServer = true;
  const client = new Peer(await connect(), { name: 'vmctl' });
  const count = 200;
  const load: Message = { type: 'load', path: `/${'x'.repeat(4000)}` };
  for (let id = 1; id <= count; id++) client.send(load, id);
  const server = serverPeers[serverPeers.length - 1];
  assert.ok(server !== undefined);
  // Nobody reads on the server yet: it stops reading soon after its high-water mark (4).
  await sleep(100);
  assert.ok(server.pending >= 4 && server.pending < count / 2, `${server.pending} queued`);
  stallServer = false;
  const ids: number[] = [];
  for await (const { id, message } of client) {
    assert.deepEqual(message, { type: 'fail', error: ERRNO.EINVAL, detail: 'load' });
    ids.push(id);
    if (ids.length === count) break;
  }
  assert.deepEqual(
    ids,
    Array.from({ length: count }, (_, i) => i + 1),
  );
  client.close();
  assert.equal(await client.closed, null);
  assert.equal(await server.closed, null);
});

test('close() ends the reader; send() afterwards writes nothing', async () => {
  const client = new Peer(await connect(), { name: 'vmctl' });
  const reading = (async () => {
    const got: Envelope[] = [];
    for await (const envelope of client) got.push(envelope);
    return got;
  })();
  client.close();
  assert.deepEqual(await reading, []);
  assert.equal(client.isOpen, false);
  assert.equal(client.send({ type: 'ok' }), false);
  assert.equal(await client.closed, null);
  assert.throws(() => client.send({ type: 'load', path: 'relative' }), ProtocolError);
});
