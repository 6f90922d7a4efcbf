/**
 * The control process (vmd(8) "Processes"): started by the parent with the socket's path in
 * its arguments and the channel to the parent on fd 3. It makes the socket (mode 0600 until
 * the parent gives it its owner and mode), tells the parent it is ready with `ok`, and serves
 * clients (control.ts) until the parent closes the channel. When it cannot make the socket it
 * sends `fail` with the reason and exits 1.
 */

import { connect, createServer, Socket, type Server } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initLog, log, setVerbosity } from '../common/log.js';
import { ERRNO } from './codes.js';
import { ControlRouter } from './control.js';
import { Peer } from './peer.js';

/** The fd on which the parent's channel arrives. */
const CHANNEL_FD = 3;

/** True when something answers on the unix socket at `path` (a vmd already runs there). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
}

/**
 * Makes the listening socket: a stale socket of an earlier vmd is removed, a live one or a
 * file that is not a socket is an error.
 */
async function listen(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  let stale = false;
  try {
    stale = lstatSync(path).isSocket();
    if (!stale)
      throw Object.assign(new Error(`${path} exists and is not a socket`), { code: 'EEXIST' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (stale) {
    if (await socketAnswers(path)) {
      throw Object.assign(new Error(`${path}: a vmd is already running`), { code: 'EADDRINUSE' });
    }
    unlinkSync(path);
  }
  // The socket is born private; the parent gives it its owner and mode 0660.
  process.umask(0o177);
  // Half-open: a client that shuts down its side after its requests still gets the answers.
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, backlog: 5 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => {
    log.warn('%s', error);
  });
  return server;
}

function errnoOf(error: unknown): number {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EEXIST') return ERRNO.EEXIST;
  if (code === 'EACCES') return ERRNO.EACCES;
  if (code === 'ENOENT') return ERRNO.ENOENT;
  return ERRNO.EIO;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { socket: { type: 'string' }, verbosity: { type: 'string', default: '0' } },
  });
  initLog('control');
  setVerbosity(Number(values.verbosity));
  const path = values.socket;
  if (path === undefined) throw new Error('no socket path given');
  const parent = new Peer(new Socket({ fd: CHANNEL_FD, readable: true, writable: true }), {
    name: 'channel to the parent',
  });
  const euid = process.geteuid?.() ?? 0;
  const router = new ControlRouter({ parent, privileged: (uid) => uid === 0 || uid === euid });
  let server: Server;
  try {
    server = await listen(path, (socket) => {
      router.accept(socket);
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    parent.send({ type: 'fail', error: errnoOf(error), detail });
    parent.close();
    await parent.closed;
    process.exitCode = 1;
    return;
  }
  parent.send({ type: 'ok' });
  for await (const envelope of parent) {
    if (envelope.id === 0 && envelope.message.type === 'verbose') {
      setVerbosity(envelope.message.level);
      continue;
    }
    router.fromParent(envelope);
  }
  // The parent closed the channel: vmd is shutting down (or has died).
  router.closeAll();
  server.close();
}

// Signals meant for vmd reach its process group in a terminal; the parent decides for both.
for (const signal of ['SIGINT', 'SIGHUP', 'SIGPIPE', 'SIGUSR1'] as const) {
  process.on(signal, () => undefined);
}
process.on('uncaughtException', (error) => {
  // A last line of defence: a bug reached by one client must not take the socket from all.
  log.warn('unexpected error: %s', error.stack ?? error.message);
});

main().catch((error: unknown) => {
  log.warn('%s', error instanceof Error ? error.message : String(error));
  process.exit(1);
});
