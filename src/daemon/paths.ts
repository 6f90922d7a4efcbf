/**
 * Where vmd and vmctl find each other and vmd's files (vmd(8) FILES and ENVIRONMENT). Root's
 * vmd listens on /run/vmd.sock; a private vmd run by another user on
 * `$XDG_RUNTIME_DIR/vmd.sock`. `VMD_SOCKET` names another socket for both programs, so that
 * one mechanism serves vmd, vmctl and the tests.
 */

import { join } from 'node:path';

/** The control socket of the system's vmd (OpenBSD's /var/run/vmd.sock). */
export const SYSTEM_SOCKET = '/run/vmd.sock';
/** The default configuration file. */
export const DEFAULT_CONFIG = '/etc/vm.conf';
/** The environment variable that names the control socket, for vmd and vmctl alike. */
export const SOCKET_ENV = 'VMD_SOCKET';
/** The socket's name in a user's runtime directory. */
const SOCKET_NAME = 'vmd.sock';

/** What the socket path depends on; the running process's by default. */
export interface SocketContext {
  /** The environment; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** The effective uid; `process.geteuid()` by default. */
  uid?: number;
}

function contextOf(context: SocketContext): { env: NodeJS.ProcessEnv; uid: number } {
  return { env: context.env ?? process.env, uid: context.uid ?? process.geteuid?.() ?? 0 };
}

/** `VMD_SOCKET` when it is set to an absolute path; throws when it is set to anything else. */
function socketFromEnv(env: NodeJS.ProcessEnv): string | null {
  const path = env[SOCKET_ENV];
  if (path === undefined || path === '') return null;
  if (!path.startsWith('/')) throw new Error(`${SOCKET_ENV} must be an absolute path: ${path}`);
  return path;
}

/** The user's runtime directory (`XDG_RUNTIME_DIR`), or null when unset or not absolute. */
function runtimeDir(env: NodeJS.ProcessEnv): string | null {
  const dir = env.XDG_RUNTIME_DIR;
  return dir !== undefined && dir.startsWith('/') ? dir : null;
}

/**
 * The socket vmd listens on: `VMD_SOCKET`, else /run/vmd.sock for root, else
 * `$XDG_RUNTIME_DIR/vmd.sock`. Throws when a user other than root has neither variable.
 */
export function daemonSocketPath(context: SocketContext = {}): string {
  const { env, uid } = contextOf(context);
  const fromEnv = socketFromEnv(env);
  if (fromEnv !== null) return fromEnv;
  if (uid === 0) return SYSTEM_SOCKET;
  const dir = runtimeDir(env);
  if (dir === null) {
    throw new Error(`XDG_RUNTIME_DIR is not set: set it, or ${SOCKET_ENV} to the socket's path`);
  }
  return join(dir, SOCKET_NAME);
}

/**
 * The socket vmctl connects to (vmctl(8)): `VMD_SOCKET`, else for a user other than root
 * `$XDG_RUNTIME_DIR/vmd.sock` when `exists` says it is there (a private vmd), else
 * /run/vmd.sock.
 */
export function clientSocketPath(
  context: SocketContext & { exists: (path: string) => boolean },
): string {
  const { env, uid } = contextOf(context);
  const fromEnv = socketFromEnv(env);
  if (fromEnv !== null) return fromEnv;
  const dir = runtimeDir(env);
  if (uid !== 0 && dir !== null) {
    const own = join(dir, SOCKET_NAME);
    if (context.exists(own)) return own;
  }
  return SYSTEM_SOCKET;
}
