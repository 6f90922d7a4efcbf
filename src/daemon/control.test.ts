import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Envelope } from './codec.js';
import { ERRNO } from './codes.js';
import { ControlRouter, type ControlLimits } from './control.js';
import type { Message } from './messages.js';
import { Peer } from './peer.js';

/** A peer's messages, taken one at a time. */
class Reader {
  private readonly messages: AsyncGenerator<Envelope, void, undefined>;
  constructor(readonly peer: Peer) {
    this.messages = peer.messages();
  }
  async next(): Promise<Envelope | undefined> {
    const next = await this.messages.next();
    return next.done === true ? undefined : next.value;
  }
}

interface Setup {
  router: ControlRouter;
  /** The test's end of the channel to the parent. */
  parent: Reader;
  client(): Promise<Reader>;
}

function listen(path: string, onSocket: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer({ allowHalfOpen: true }, onSocket);
    server.listen(path, () => {
      resolve(server);
    });
  });
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => {
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * A router between real unix sockets: clients of `uid` on one, the parent on the other; closed
 * and removed when test `t` ends.
 */
async function setup(
  t: TestContext,
  uid: number,
  limits: Partial<ControlLimits> = {},
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-control-'));
  let routerSide: Socket | undefined;
  const channel = await listen(join(dir, 'parent.sock'), (socket) => (routerSide = socket));
  const parentSide = await dial(join(dir, 'parent.sock'));
  while (routerSide === undefined) await new Promise((r) => setImmediate(r));
  const routerParent = new Peer(routerSide);
  const router = new ControlRouter({
    parent: routerParent,
    privileged: (id) => id === 0,
    limits,
    credentials: () => ({ uid }),
  });
  const parent = new Reader(new Peer(parentSide));
  void (async () => {
    for await (const envelope of routerParent) router.fromParent(envelope);
  })();
  const clients = await listen(join(dir, 'vmd.sock'), (socket) => {
    router.accept(socket);
  });
  const peers: Peer[] = [parent.peer, routerParent];
  t.after(async () => {
    router.closeAll();
    for (const peer of peers) peer.close();
    await Promise.all(peers.map((p) => p.closed));
    await new Promise((r) => clients.close(r));
    await new Promise((r) => channel.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    router,
    parent,
    client: async () => {
      const peer = new Peer(await dial(join(dir, 'vmd.sock')));
      peers.push(peer);
      return new Reader(peer);
    },
  };
}

const status: Message = { type: 'get-info-vm-request' };
const reload: Message = { type: 'reload' };
function stop(name: string, wait: boolean, uid: number | null = null): Message {
  return { type: 'terminate-vm-request', vm: { name }, uid, force: false, wait };
}
function result(
  type: 'terminate-vm-response' | 'terminate-vm-event',
  value: number,
  vmId: number,
): Message {
  return { type, result: value, vmId, pid: null, tty: null };
}

test("ControlRouter stamps the client's uid and routes replies back by request id", async (t) => {
  const s = await setup(t, 0);
  const a = await s.client();
  const b = await s.client();
  a.peer.send(stop('web', false, 4242), 7);
  b.peer.send(status, 7);
  const first = await s.parent.next();
  const second = await s.parent.next();
  assert.ok(first !== undefined && second !== undefined);
  assert.deepEqual(
    first.message,
    stop('web', false, 0),
    "the uid is the socket's, not the client's",
  );
  assert.notEqual(first.id, second.id, 'each request has an id of its own toward the parent');
  // The parent answers out of order, and status with several messages.
  s.parent.peer.send({ type: 'get-info-vm-end-data' }, second.id);
  s.parent.peer.send(result('terminate-vm-response', 0, 3), first.id);
  assert.deepEqual(await b.next(), { id: 7, message: { type: 'get-info-vm-end-data' } });
  assert.deepEqual(await a.next(), { id: 7, message: result('terminate-vm-response', 0, 3) });
});

test('ControlRouter: a client other than root may not reload: EPERM, closed, the parent hears nothing', async (t) => {
  const s = await setup(t, 1000);
  const a = await s.client();
  a.peer.send(reload, 1);
  assert.deepEqual(await a.next(), {
    id: 1,
    message: { type: 'fail', error: ERRNO.EPERM, detail: 'reload is for root only' },
  });
  assert.equal(await a.next(), undefined, 'the connection is closed');
  const b = await s.client();
  b.peer.send(status, 2);
  const forwarded = await s.parent.next();
  assert.deepEqual(forwarded?.message, status, 'the next thing the parent hears is the status');
});

test('ControlRouter: a bad frame ends only its own connection', async (t) => {
  const s = await setup(t, 0);
  const bad = await s.client();
  const good = await s.client();
  (bad.peer as unknown as { socket: Socket }).socket.write(Buffer.from('GET / HTTP/1.0\r\n\r\n'));
  const refusal = await bad.next();
  assert.equal(refusal?.message.type === 'fail' && refusal.message.error, ERRNO.EPROTO);
  assert.equal(await bad.next(), undefined);
  good.peer.send(status, 5);
  const forwarded = await s.parent.next();
  assert.ok(forwarded !== undefined);
  s.parent.peer.send({ type: 'get-info-vm-end-data' }, forwarded.id);
  assert.deepEqual(await good.next(), { id: 5, message: { type: 'get-info-vm-end-data' } });
});

test('ControlRouter: vmctl wait hears only the end; stop -w hears the answer and the end', async (t) => {
  const s = await setup(t, 0);
  const waiter = await s.client();
  const stopper = await s.client();
  waiter.peer.send({ type: 'wait-vm-request', vm: { id: 3 }, uid: null }, 11);
  const wait = await s.parent.next();
  assert.ok(wait !== undefined);
  s.parent.peer.send(result('terminate-vm-response', 0, 3), wait.id);
  stopper.peer.send(stop('web', true), 12);
  const stopping = await s.parent.next();
  assert.ok(stopping !== undefined);
  s.parent.peer.send(result('terminate-vm-response', 0, 3), stopping.id);
  assert.deepEqual(await stopper.next(), {
    id: 12,
    message: result('terminate-vm-response', 0, 3),
  });
  // Another VM's end is not theirs; VM 3's goes to both, with their own ids.
  s.parent.peer.send(result('terminate-vm-event', 0, 4), 0);
  s.parent.peer.send(result('terminate-vm-event', 0, 3), 0);
  assert.deepEqual(await waiter.next(), { id: 11, message: result('terminate-vm-event', 0, 3) });
  assert.deepEqual(await stopper.next(), { id: 12, message: result('terminate-vm-event', 0, 3) });
});

test('ControlRouter: connections of one user beyond the cap are refused with EBUSY', async (t) => {
  const s = await setup(t, 1000, { maxPerUser: 1 });
  await s.client();
  const second = await s.client();
  assert.deepEqual((await second.next())?.message, {
    type: 'fail',
    error: ERRNO.EBUSY,
    detail: 'too many connections from this user',
  });
  assert.equal(await second.next(), undefined);
});

test('ControlRouter: a connection has at most maxInFlight requests at the parent', async (t) => {
  const s = await setup(t, 0, { maxInFlight: 2 });
  const busy = await s.client();
  for (let id = 1; id <= 4; id++) busy.peer.send(status, id);
  const first = await s.parent.next();
  const second = await s.parent.next();
  assert.ok(first !== undefined && second !== undefined);
  const other = await s.client();
  other.peer.send(reload, 9);
  // Had the cap not held, the third request would have come before this one.
  assert.deepEqual((await s.parent.next())?.message, reload);
  s.parent.peer.send({ type: 'get-info-vm-end-data' }, first.id);
  assert.deepEqual((await s.parent.next())?.message, status, 'an answer frees a slot');
  assert.deepEqual(await busy.next(), { id: 1, message: { type: 'get-info-vm-end-data' } });
});

test('ControlRouter: a client that shuts down its side still gets its answer', async (t) => {
  const s = await setup(t, 0);
  const a = await s.client();
  a.peer.send(status, 3);
  (a.peer as unknown as { socket: Socket }).socket.end();
  const forwarded = await s.parent.next();
  assert.ok(forwarded !== undefined);
  s.parent.peer.send({ type: 'get-info-vm-end-data' }, forwarded.id);
  assert.deepEqual(await a.next(), { id: 3, message: { type: 'get-info-vm-end-data' } });
  assert.equal(await a.next(), undefined, 'then the connection closes');
});
