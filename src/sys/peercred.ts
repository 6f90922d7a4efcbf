/**
 * The credentials of the process at the other end of a unix socket, as the kernel recorded
 * them when the connection was made: what vmd's control process checks a request against
 * (vm.conf `owner`, and the requests a non-root peer may make).
 *
 * Linux's SO_PEERCRED socket option (socket(7), unix(7)) fills a `struct ucred`; Node offers
 * no way to read it, so it is read through the C library.
 */

import type { Socket } from 'node:net';
import { checkCall, lazyBindings, libc } from './libc.js';

/** The process at the other end of a unix socket (`struct ucred`). */
export interface PeerCredentials {
  /** The process id, as seen from this process's pid namespace (0 if it is not visible). */
  pid: number;
  /** The effective user id of the peer when it connected (or called listen). */
  uid: number;
  /** The effective group id of the peer when it connected (or called listen). */
  gid: number;
}

/** `<sys/socket.h>`: the socket level of getsockopt(2). */
const SOL_SOCKET = 1;
/** `<asm-generic/socket.h>`: SO_PEERCRED. */
const SO_PEERCRED = 17;
/** `<asm-generic/socket.h>`: SO_DOMAIN, the socket's address family. */
const SO_DOMAIN = 39;
/** `<sys/socket.h>`: AF_UNIX. */
const AF_UNIX = 1;
/** sizeof(struct ucred): `{ pid_t pid; uid_t uid; gid_t gid; }`, three 32-bit fields. */
const UCRED_BYTES = 12;
/** `(uid_t)-1`: what Linux reports for a socket that has no peer. */
const NO_USER = 0xffffffff;

const bindings = lazyBindings(() => ({
  getsockopt: libc().func(
    'int getsockopt(int fd, int level, int optname, void *optval, void *optlen)',
  ) as (fd: number, level: number, name: number, value: Buffer, length: Uint32Array) => number,
}));

/**
 * The descriptor under a connected `net.Socket`.
 *
 * Node keeps it on the socket's libuv handle (`socket._handle.fd`, a getter of the pipe and TCP
 * wraps) and offers no public way to it; a descriptor is what getsockopt(2) needs, so this
 * reaches for the handle. A socket that is not connected yet, has been destroyed, or is not
 * backed by a descriptor (a stream made in JavaScript) has none, and gets a clear error.
 */
export function socketDescriptor(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new Error(
      handle === undefined || handle === null
        ? 'socket has no handle (it is closed or not a system socket)'
        : 'socket has no file descriptor (it is not connected yet)',
    );
  }
  return fd;
}

/**
 * Who is at the other end of a connected unix socket: getsockopt(SOL_SOCKET, SO_PEERCRED).
 * For the server's end of a connection that is the client at connect(2) time; for the
 * client's end, the server at listen(2) time.
 *
 * Throws for a socket that is not AF_UNIX or not connected: Linux answers SO_PEERCRED on
 * those too, with uid and gid -1 and pid 0, which must never be mistaken for a user.
 * Otherwise throws the error of {@link socketDescriptor} or an `ErrnoException` from
 * getsockopt.
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = socketDescriptor(socket);
  const { getsockopt } = bindings();
  const domain = Buffer.alloc(4);
  const length = new Uint32Array([domain.length]);
  checkCall(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, domain, length), 'getsockopt');
  if (domain.readInt32LE(0) !== AF_UNIX) {
    throw new Error(
      `peer credentials need a unix socket (address family ${domain.readInt32LE(0)})`,
    );
  }
  const ucred = Buffer.alloc(UCRED_BYTES);
  length[0] = UCRED_BYTES;
  checkCall(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, length), 'getsockopt');
  if (length[0] !== UCRED_BYTES) {
    throw new Error(`getsockopt(SO_PEERCRED) returned ${length[0]} bytes, not ${UCRED_BYTES}`);
  }
  const credentials = {
    pid: ucred.readInt32LE(0),
    uid: ucred.readUInt32LE(4),
    gid: ucred.readUInt32LE(8),
  };
  // An unconnected socket has no peer: Linux then reports (uid_t)-1, never a real user.
  if (credentials.uid === NO_USER) {
    throw new Error('socket has no peer credentials (it is not connected)');
  }
  return credentials;
}
