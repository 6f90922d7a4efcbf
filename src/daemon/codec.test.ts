import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { test } from 'node:test';

import { decodeEnvelope, decodeMessage, encodeMessage } from './codec.js';
import { ERRNO, resultText, VM_STATE, VMD_ERRORS, vmStateName } from './codes.js';
import { FrameDecoder, ProtocolError, type Frame, type ProtocolErrorCode } from './frame.js';
import { SAMPLE_MESSAGES } from './message_samples.js';
import { MESSAGE_CODES, MESSAGE_TYPES, messageTypeOf, type Message } from './messages.js';

const utf8 = new TextEncoder();

/** A frame of message type `type` whose payload is `json` as written. */
function rawFrame(type: number, json: string): Frame {
  return { type, id: 1, payload: utf8.encode(json) };
}

function assertRefused(
  frame: Frame,
  code: ProtocolErrorCode,
  message: RegExp,
  field?: string,
): void {
  assert.throws(
    () => decodeMessage(frame),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.match(error.message, message);
      if (field !== undefined) assert.equal(error.field, field);
      return true;
    },
  );
}

/** The sample of `type`, as JSON text without its tag, for hand-made variants. */
function fieldsOf(type: Message['type']): Record<string, unknown> {
  const sample = SAMPLE_MESSAGES.find((m) => m.type === type);
  assert.ok(sample !== undefined);
  const fields: Record<string, unknown> = structuredClone({ ...sample });
  delete fields.type;
  return fields;
}

test('every message type has a unique u16 code and a sample', () => {
  const codes = MESSAGE_TYPES.map((t) => MESSAGE_CODES[t]);
  assert.equal(new Set(codes).size, codes.length);
  for (const code of codes) assert.ok(Number.isInteger(code) && code >= 0 && code <= 0xffff);
  for (const type of MESSAGE_TYPES) assert.equal(messageTypeOf(MESSAGE_CODES[type]), type);
  assert.deepEqual(
    new Set(SAMPLE_MESSAGES.map((m) => m.type)),
    new Set(MESSAGE_TYPES),
    'a sample of every type',
  );
});

test('vmd imsg numbers are kept where vmd has the message', () => {
  assert.equal(MESSAGE_CODES['start-vm-request'], 4);
  assert.equal(MESSAGE_CODES['start-vm-response'], 9);
  assert.equal(MESSAGE_CODES['terminate-vm-event'], 17);
  assert.equal(MESSAGE_CODES['get-info-vm-end-data'], 20);
  assert.equal(MESSAGE_CODES.reload, 24);
});

test('every sample survives encode, frame decoding and message decoding unchanged', () => {
  for (const [i, message] of SAMPLE_MESSAGES.entries()) {
    const bytes = encodeMessage(message, i + 1);
    const frames: Frame[] = [];
    new FrameDecoder().push(bytes, (f) => frames.push(f));
    assert.equal(frames.length, 1);
    const frame = frames[0];
    assert.ok(frame !== undefined);
    assert.equal(frame.type, MESSAGE_CODES[message.type]);
    assert.deepEqual(decodeEnvelope(frame), { id: i + 1, message }, message.type);
  }
});

test('the payload is the fields as a JSON object without the tag', () => {
  const bytes = encodeMessage({ type: 'load', path: '/etc/vm.conf' }, 3);
  assert.equal(new TextDecoder().decode(bytes.subarray(12)), '{"path":"/etc/vm.conf"}');
});

test('an unknown type number, non-JSON, bad UTF-8 and non-objects are refused', () => {
  assertRefused(rawFrame(5, '{}'), 'unknown-type', /unknown message type 5/);
  assertRefused(rawFrame(0xffff, '{}'), 'unknown-type', /65535/);
  assertRefused(rawFrame(0, ''), 'bad-payload', /^ok: payload is not JSON/);
  assertRefused(rawFrame(0, '{"a":'), 'bad-payload', /not JSON/);
  assertRefused(
    { type: 0, id: 0, payload: Uint8Array.of(0x7b, 0xff, 0x7d) },
    'bad-payload',
    /UTF-8/,
  );
  assertRefused(
    { type: 0, id: 0, payload: Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d) },
    'bad-payload',
    /not JSON/,
  );
  for (const json of ['null', '[]', '3', '"x"', 'true']) {
    assertRefused(rawFrame(0, json), 'bad-field', /must be an object/, '(payload)');
  }
});

test('missing, unknown and ill-typed fields are refused by name', () => {
  const code = MESSAGE_CODES['start-vm-request'];
  const fields = fieldsOf('start-vm-request');
  const variant = (change: (f: Record<string, unknown>) => void): Frame => {
    const copy = structuredClone(fields);
    change(copy);
    return rawFrame(code, JSON.stringify(copy));
  };
  assertRefused(
    variant((f) => delete f.memory),
    'bad-field',
    /^start-vm-request: field "memory" is missing$/,
    'memory',
  );
  assertRefused(
    variant((f) => (f.extra = 1)),
    'bad-field',
    /"extra" is not a known field/,
    'extra',
  );
  assertRefused(
    variant((f) => (f.memory = '1G')),
    'bad-field',
    /"memory" must be an integer/,
  );
  assertRefused(
    variant((f) => (f.disks = {})),
    'bad-field',
    /"disks" must be an array/,
  );
  assertRefused(
    variant((f) => (f.disks = [{ path: 'relative.img', format: 'raw' }])),
    'bad-field',
    /"disks\[0\]\.path" must be an absolute path/,
    'disks[0].path',
  );
  assertRefused(
    variant((f) => (f.disks = [{ path: '/a', format: 'vmdk' }])),
    'bad-field',
    /"disks\[0\]\.format" must be one of raw, qcow2/,
  );
  assertRefused(
    variant((f) => (f.disks = Array.from({ length: 5 }, () => ({ path: '/a', format: 'raw' })))),
    'bad-field',
    /"disks" must have at most 4 items/,
  );
  assertRefused(
    variant((f) => (f.vm = { id: 1, name: 'a' })),
    'bad-field',
    /"vm\.id" is not a known field/,
  );
  assertRefused(
    variant((f) => (f.vm = {})),
    'bad-field',
    /"vm\.id" is missing/,
  );
  assertRefused(
    variant((f) => (f.boot = '/a\u0000b')),
    'bad-field',
    /"boot" must not contain NUL/,
  );
  assertRefused(
    variant((f) => (f.boot = '/\ud800')),
    'bad-field',
    /"boot" must be valid Unicode/,
  );
});

test('__proto__, constructor and prototype keys are refused at any depth', () => {
  const pause = MESSAGE_CODES['pause-vm'];
  for (const json of [
    '{"__proto__":{"polluted":true},"vm":{"id":1},"uid":null}',
    '{"vm":{"id":1,"__proto__":{"polluted":true}},"uid":null}',
    '{"vm":{"id":1},"uid":null,"constructor":{"prototype":{"polluted":true}}}',
    '{"vm":{"prototype":1},"uid":null}',
  ]) {
    assertRefused(rawFrame(pause, json), 'bad-field', /is a forbidden key/);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('numbers are range-checked: ids, uids, pids, memory, counts', () => {
  const pause = MESSAGE_CODES['pause-vm'];
  for (const id of ['0', '-1', '4294967296', '1.5', '1e400', '-0']) {
    assertRefused(
      rawFrame(pause, `{"vm":{"id":${id}},"uid":null}`),
      'bad-field',
      /"vm\.id" must be an integer from 1 to 4294967295/,
    );
  }
  assertRefused(rawFrame(pause, '{"vm":{"id":1},"uid":4294967295}'), 'bad-field', /"uid"/);
  assert.deepEqual(decodeMessage(rawFrame(pause, '{"vm":{"id":1},"uid":-0}')), {
    type: 'pause-vm',
    vm: { id: 1 },
    uid: 0,
  });
  const start = fieldsOf('start-vm-request');
  for (const memory of [0, 1024 * 1024 - 1, 128 * 1024 ** 3 + 1, 2 ** 53]) {
    assertRefused(
      rawFrame(MESSAGE_CODES['start-vm-request'], JSON.stringify({ ...start, memory })),
      'bad-field',
      /"memory" must be an integer from 1048576 to 137438953472/,
    );
  }
  const info = fieldsOf('get-info-vm-data');
  const status = info.info as Record<string, unknown>;
  for (const [key, value] of [
    ['curMemory', 2 ** 53],
    ['maxMemory', -1],
    ['vcpus', 0],
    ['vcpus', 65],
    ['pid', 0],
    ['pid', 2 ** 31],
  ] as const) {
    const json = JSON.stringify({ info: { ...status, [key]: value } });
    assertRefused(
      rawFrame(MESSAGE_CODES['get-info-vm-data'], json),
      'bad-field',
      new RegExp(`"info\\.${key}"`),
    );
  }
});

test("names follow vmd's rules: letters, digits, . - _, not leading . - _, under 64", () => {
  const unpause = MESSAGE_CODES['unpause-vm'];
  const json = (name: string): string => JSON.stringify({ vm: { name }, uid: null });
  for (const name of ['a', 'web1.example.com', 'A-b_c', '9', 'x'.repeat(63)]) {
    assert.deepEqual(decodeMessage(rawFrame(unpause, json(name))), {
      type: 'unpause-vm',
      vm: { name },
      uid: null,
    });
  }
  for (const name of ['', '.a', '-a', '_a', 'a b', 'a/b', 'é', 'x'.repeat(64)]) {
    assertRefused(rawFrame(unpause, json(name)), 'bad-field', /"vm\.name"/, 'vm.name');
  }
});

test('encoding checks the message too, so a bug here is not sent', () => {
  const bad = [
    { type: 'load', path: 'relative.conf' },
    { type: 'verbose', level: 1.5 },
    { type: 'no-such-type' },
    { type: 'toString' },
    { type: 'ok', extra: 1 },
  ] as unknown as Message[];
  for (const message of bad) {
    assert.throws(() => encodeMessage(message), ProtocolError, JSON.stringify(message));
  }
  assert.throws(() => encodeMessage({ type: 'load', path: `/${'a'.repeat(100)}` }, 0, 50), {
    code: 'oversized',
  });
});

test("vmd's error codes and this host's errno numbers", () => {
  assert.equal(VMD_ERRORS.VMD_BIOS_MISSING, 1001);
  assert.equal(VMD_ERRORS.VMD_PARENT_INVALID, 1007);
  for (const [name, value] of Object.entries(ERRNO)) {
    assert.equal(value, (constants.errno as Record<string, number>)[name], name);
  }
  assert.equal(resultText(0), 'Success');
  assert.equal(resultText(VMD_ERRORS.VMD_PARENT_INVALID), 'invalid template');
  assert.equal(resultText(ERRNO.EALREADY), 'Operation already in progress');
  assert.equal(resultText(4000), 'Unknown error 4000');
});

test("vmStateName() ranks the state bits as vmctl's vm_state does", () => {
  const { RUNNING, DISABLED, SHUTDOWN, PAUSED, WAITING } = VM_STATE;
  assert.equal(vmStateName(0), 'stopped');
  assert.equal(vmStateName(DISABLED), 'stopped');
  assert.equal(vmStateName(RUNNING), 'running');
  assert.equal(vmStateName(RUNNING | SHUTDOWN), 'stopping');
  assert.equal(vmStateName(RUNNING | PAUSED | SHUTDOWN), 'paused');
  assert.equal(vmStateName(WAITING | SHUTDOWN), 'waiting');
});
