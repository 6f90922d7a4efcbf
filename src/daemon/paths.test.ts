import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientSocketPath, daemonSocketPath, SYSTEM_SOCKET } from './paths.js';

test('daemonSocketPath(): /run/vmd.sock for root, the runtime directory for a user', () => {
  assert.equal(daemonSocketPath({ env: {}, uid: 0 }), SYSTEM_SOCKET);
  assert.equal(
    daemonSocketPath({ env: { XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000 }),
    '/run/user/1000/vmd.sock',
  );
  assert.throws(() => daemonSocketPath({ env: {}, uid: 1000 }), /XDG_RUNTIME_DIR is not set/);
});

test('VMD_SOCKET names the socket for vmd and vmctl alike; it must be absolute', () => {
  const env = { VMD_SOCKET: '/tmp/t/vmd.sock', XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(daemonSocketPath({ env, uid: 0 }), '/tmp/t/vmd.sock');
  assert.equal(daemonSocketPath({ env, uid: 1000 }), '/tmp/t/vmd.sock');
  assert.equal(clientSocketPath({ env, uid: 1000, exists: () => true }), '/tmp/t/vmd.sock');
  assert.throws(
    () => daemonSocketPath({ env: { VMD_SOCKET: 'vmd.sock' }, uid: 0 }),
    /must be an absolute path/,
  );
});

test("clientSocketPath(): a user's private vmd when its socket exists, else the system's", () => {
  const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
  assert.equal(clientSocketPath({ env, uid: 1000, exists: () => true }), '/run/user/1000/vmd.sock');
  assert.equal(clientSocketPath({ env, uid: 1000, exists: () => false }), SYSTEM_SOCKET);
  assert.equal(
    clientSocketPath({ env, uid: 0, exists: () => true }),
    SYSTEM_SOCKET,
    'root uses the system vmd',
  );
});
