/**
 * Messages on the wire: each one a frame whose type number says which message it is and
 * whose payload is the message's fields as a JSON object in UTF-8. Decoding is strict: an
 * unknown type, a payload that is not a JSON object, a missing, unknown or ill-typed field,
 * a number out of its range or a forbidden key (`__proto__`) is a {@link ProtocolError}
 * naming what was wrong, and nothing else is thrown for bad input. Encoding runs the same
 * checks, so a bug on this side is caught here rather than by the peer.
 */

import type { DiskConfig, Owner } from '../config/types.js';
import { MAX_BACKING_DEPTH } from '../block/qcow2.js';
import { LIMITS } from '../config/types.js';
import { isValidVmName, parseLladdr } from '../config/validate.js';
import { MAX_RESULT, VM_STATE_NAMES } from './codes.js';
import { DEFAULT_MAX_PAYLOAD, encodeFrame, ProtocolError, type Frame } from './frame.js';
import {
  MESSAGE_CODES,
  MESSAGE_TYPES,
  messageTypeOf,
  type Message,
  type MessageOf,
  type MessageType,
  type StartInterface,
  type VmConsoleSpec,
  type VmFileSpec,
  type VmNicSpec,
  type VmRef,
  type VmResult,
  type VmSpec,
  type VmStatus,
} from './messages.js';
import {
  array,
  boolean,
  either,
  integer,
  nullable,
  object,
  oneOf,
  text,
  type Schema,
  type Shape,
} from './schema.js';

/** The most virtual CPUs a VM may have (VMM_MAX_VCPUS_PER_VM). */
export const MAX_VCPUS = 64;

/** A message and the id of the frame it came in or goes out in. */
export interface Envelope<M extends Message = Message> {
  /** The request id: a reply carries the id of the request it answers. */
  id: number;
  /** The message. */
  message: M;
}

// Field types.
const vmId = integer(1, 0xffffffff);
const pid = integer(1, 0x7fffffff);
// uid_t and gid_t are 32 bits; (uid_t)-1 means "none" and is never an identity.
const uid = integer(0, 0xfffffffe);
const result = integer(0, MAX_RESULT);
const memory = integer(LIMITS.minMemory, LIMITS.maxMemory);
const bytes = integer(0, Number.MAX_SAFE_INTEGER);
const fd = integer(0, 0x7fffffff);
const nicCount = integer(0, LIMITS.maxInterfaces);

const path = text({
  minLength: 1,
  maxLength: LIMITS.pathMax - 1,
  check: (p) => (p.startsWith('/') ? null : 'must be an absolute path'),
});
const vmName = text({
  minLength: 1,
  maxLength: LIMITS.maxNameLength - 1,
  check: (name) =>
    isValidVmName(name)
      ? null
      : 'must be a VM name: letters, digits, ".", "-" and "_", starting with a letter or digit',
});
const switchName = text({
  minLength: 1,
  maxLength: LIMITS.maxSwitchNameLength - 1,
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  check: (name) => (/[\x00-\x1f\x7f]/.test(name) ? 'must not contain control characters' : null),
});
const lladdr = text({
  maxLength: 17,
  check: (mac) =>
    parseLladdr(mac) === mac ? null : 'must be a MAC address as xx:xx:xx:xx:xx:xx in lowercase',
});
const detail = text({ maxLength: 4096 });
/** Linux's COMMAND_LINE_SIZE on x86. */
const cmdline = text({ maxLength: 2047 });
const diskFormat = oneOf(['raw', 'qcow2'] as const);
const bootDevice = nullable(oneOf(['disk', 'cdrom', 'net'] as const));

// Records.
const vmRef: Schema<VmRef> = either(
  'name',
  object<{ name: string }>({ name: vmName }),
  object<{ id: number }>({ id: vmId }),
);
const disk = object<DiskConfig>({ path, format: diskFormat });
/** A VM's files: the kernel, the initrd, and each disk's whole backing chain. */
const MAX_VM_FILES = 2 + LIMITS.maxDisks * MAX_BACKING_DEPTH;
const owner = object<Owner>({ uid, gid: nullable(uid) });
const startInterface = object<StartInterface>({ local: boolean, switch: nullable(switchName) });
const vmResult: Shape<VmResult> = {
  result,
  vmId: nullable(vmId),
  pid: nullable(pid),
  tty: nullable(path),
};
const vmRequest: Shape<{ vm: VmRef; uid: number | null }> = { vm: vmRef, uid: nullable(uid) };
const status = object<VmStatus>({
  id: vmId,
  pid: nullable(pid),
  vcpus: integer(1, MAX_VCPUS),
  maxMemory: bytes,
  curMemory: bytes,
  tty: nullable(path),
  owner,
  state: oneOf(VM_STATE_NAMES),
  name: vmName,
});
const spec = object<VmSpec>({
  vmId,
  name: vmName,
  memory,
  vcpus: integer(1, MAX_VCPUS),
  boot: nullable(path),
  bootDevice,
  initrd: nullable(path),
  cmdline: nullable(cmdline),
  cdrom: nullable(path),
  disks: array(disk, LIMITS.maxDisks),
  interfaces: array(
    object<VmNicSpec>({ lladdr, local: boolean, fd: nullable(fd) }),
    LIMITS.maxInterfaces,
  ),
  console: nullable(object<VmConsoleSpec>({ master: fd, slave: fd, path })),
  files: nullable(array(object<VmFileSpec>({ path, fd, writable: boolean }), MAX_VM_FILES)),
});

/** A message's fields without its tag. */
type Fields<T extends MessageType> = Omit<MessageOf<T>, 'type'>;

/** The fields of every message type, each with its schema. */
const SHAPES: { readonly [T in MessageType]: Shape<Fields<T>> } = {
  ok: {},
  fail: { error: result, detail: nullable(detail) },
  verbose: { level: integer(0, 255) },
  reset: { scope: oneOf(['all', 'vms', 'switches'] as const) },
  'start-vm-request': {
    uid: nullable(uid),
    vm: vmRef,
    memory: nullable(memory),
    boot: nullable(path),
    bootDevice,
    initrd: nullable(path),
    cmdline: nullable(cmdline),
    cdrom: nullable(path),
    disks: array(disk, LIMITS.maxDisks),
    interfaces: array(startInterface, LIMITS.maxInterfaces),
    interfaceCount: nullable(nicCount),
    template: nullable(vmName),
  },
  'start-vm-response': vmResult,
  'pause-vm': vmRequest,
  'pause-vm-response': vmResult,
  'unpause-vm': vmRequest,
  'unpause-vm-response': vmResult,
  'wait-vm-request': vmRequest,
  'terminate-vm-request': { ...vmRequest, force: boolean, wait: boolean },
  'terminate-vm-response': vmResult,
  'terminate-vm-event': vmResult,
  'get-info-vm-request': {},
  'get-info-vm-data': { info: status },
  'get-info-vm-end-data': {},
  load: { path },
  reload: {},
  'vm-shutdown': {},
  'vm-reboot': {},
  'console-request': vmRequest,
  'console-response': vmResult,
  'create-disk-request': {
    uid: nullable(uid),
    path,
    format: diskFormat,
    // vmctl create -s: at least 1 MB.
    size: nullable(integer(1024 * 1024, Number.MAX_SAFE_INTEGER)),
    base: nullable(path),
    input: nullable(path),
  },
  'vm-create': { spec },
  'vm-memory': { bytes },
};

/** The payload schema of every message type. */
const SCHEMAS: ReadonlyMap<MessageType, Schema<object>> = new Map(
  MESSAGE_TYPES.map((type) => [type, object<object>(SHAPES[type])]),
);

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Puts the message type in front of a field error. */
function inMessage(type: MessageType, error: unknown): unknown {
  if (!(error instanceof ProtocolError)) return error;
  return new ProtocolError(error.code, `${type}: ${error.message}`, error.field);
}

/**
 * Checks a message's fields and returns a clean copy of them (only the known fields, in
 * schema order); throws a `bad-field` {@link ProtocolError}.
 */
function checkFields(type: MessageType, fields: unknown): object {
  const schema = SCHEMAS.get(type);
  if (schema === undefined) {
    throw new ProtocolError('unknown-type', `unknown message type ${JSON.stringify(type)}`);
  }
  try {
    return schema(fields, '');
  } catch (error) {
    throw inMessage(type, error);
  }
}

/**
 * Encodes a message into one frame with request id `id`. Throws a {@link ProtocolError} when
 * the message would not pass the peer's checks (a bug on this side) or its payload is larger
 * than `maxPayload`.
 */
export function encodeMessage(
  message: Message,
  id = 0,
  maxPayload = DEFAULT_MAX_PAYLOAD,
): Uint8Array {
  const { type, ...fields } = message;
  // checkFields refuses an unknown tag, which a caller outside the type checker could pass.
  const payload = utf8Encoder.encode(JSON.stringify(checkFields(type, fields)));
  return encodeFrame({ type: MESSAGE_CODES[type], id, payload }, maxPayload);
}

/**
 * Decodes the message in a frame. Throws a {@link ProtocolError} for an unknown type, a
 * payload that is not a JSON object in UTF-8, or any field that fails its check.
 */
export function decodeMessage(frame: Frame): Message {
  const type = messageTypeOf(frame.type);
  if (type === undefined) {
    throw new ProtocolError('unknown-type', `unknown message type ${frame.type}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8Decoder.decode(frame.payload));
  } catch (error) {
    // The parser's message may quote the payload; ProtocolError makes it printable.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ProtocolError('bad-payload', `${type}: payload is not JSON in UTF-8 (${reason})`);
  }
  return { type, ...checkFields(type, json) } as Message;
}

/** Decodes a frame into an {@link Envelope}: its id and its message. */
export function decodeEnvelope(frame: Frame): Envelope {
  return { id: frame.id, message: decodeMessage(frame) };
}
