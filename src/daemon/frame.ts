/**
 * Framing for the control plane's byte streams (the control socket, the pipes to VM
 * processes), after OpenBSD's imsg: every message is a fixed header followed by its payload,
 * so a reader always knows how many bytes to wait for and can refuse a frame by its header
 * before reading it.
 *
 * A frame, all numbers big-endian:
 *
 * | Offset | Size | Field |
 * | --- | --- | --- |
 * | 0 | 1 | magic (high nibble, 0xa) and version (low nibble, 1): 0xa1 |
 * | 1 | 1 | flags (imsg's `flags`); none are defined in version 1, so it must be 0 |
 * | 2 | 2 | message type (imsg's `type`) |
 * | 4 | 4 | request or peer id (imsg's `peerid`): a reply carries its request's id |
 * | 8 | 4 | payload length in bytes, header excluded (imsg's `len` counts the header) |
 * | 12 | … | payload |
 *
 * The decoder is incremental and bounded: it takes chunks as the stream delivers them, checks
 * each header field as soon as its bytes arrive, and holds at most one header and one payload
 * of at most `maxPayload` bytes. A stream cannot be resynchronised after a bad header, so the
 * first {@link ProtocolError} ends it; the owner closes the connection.
 */

/** The high nibble of a frame's first byte. */
export const FRAME_MAGIC = 0xa0;
/** The frame format's version, the low nibble of the first byte. */
export const FRAME_VERSION = 1;
/** Bytes in a frame header. */
export const HEADER_SIZE = 12;
/** The largest payload accepted unless the decoder is told otherwise: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** The largest payload the length field can describe. */
export const MAX_PAYLOAD_LIMIT = 0xffffffff;

/** What a {@link ProtocolError} is about. */
export type ProtocolErrorCode =
  /** The first byte is not a frame's: the peer does not speak this protocol. */
  | 'bad-magic'
  /** A frame of a version this side does not know. */
  | 'bad-version'
  /** Flag bits this version does not define. */
  | 'bad-flags'
  /** A payload longer than the limit (refused from the header, before it is read). */
  | 'oversized'
  /** The stream ended inside a frame. */
  | 'truncated'
  /** A frame handler threw, so the rest of that chunk was not decoded. */
  | 'aborted'
  /** A message type number that no message has. */
  | 'unknown-type'
  /** A payload that is not a JSON object in UTF-8. */
  | 'bad-payload'
  /** A field that is missing, unknown, forbidden or of the wrong type or range. */
  | 'bad-field';

/** The longest {@link ProtocolError} message; a longer one is cut. */
export const MAX_ERROR_TEXT = 300;

/**
 * Makes text that quotes a peer safe to log and to send back: control characters and
 * unpaired surrogates become `?`, and the text is cut to `max` characters.
 */
export function printable(text: string, max = MAX_ERROR_TEXT): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is replaced
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]|\p{Cs}/gu, '?');
  return clean.length <= max ? clean : `${clean.slice(0, max - 3).replace(/\p{Cs}$/u, '')}...`;
}

/**
 * Bad input from a peer: a malformed frame or message. Nothing else is thrown for bad bytes,
 * so a reader can tell a misbehaving peer (close that connection) from its own bug. The
 * message is always {@link printable}, whatever the peer sent.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  /**
   * @param code - What is wrong.
   * @param message - The sentence to log.
   * @param field - For `bad-field`: the path of the field (`vm.name`, `disks[1].path`).
   */
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly field: string | null = null,
  ) {
    super(printable(message));
  }
}

/** One decoded frame. */
export interface Frame {
  /** The message type, 0..0xffff. */
  type: number;
  /** The request or peer id, 0..0xffffffff. */
  id: number;
  /** The payload bytes, owned by the frame. */
  payload: Uint8Array;
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** The largest payload accepted, in bytes; {@link DEFAULT_MAX_PAYLOAD} by default. */
  maxPayload?: number;
}

function checkMaxPayload(maxPayload: number): number {
  if (!Number.isInteger(maxPayload) || maxPayload < 0 || maxPayload > MAX_PAYLOAD_LIMIT) {
    throw new RangeError(`maxPayload must be an integer in [0, ${MAX_PAYLOAD_LIMIT}]`);
  }
  return maxPayload;
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * The first-byte and flags checks, made as soon as those bytes arrive so that a peer sending
 * garbage is refused at its first byte.
 */
function checkLeadBytes(header: Uint8Array, filled: number): ProtocolError | null {
  const lead = header[0] ?? 0;
  if (filled >= 1 && (lead & 0xf0) !== FRAME_MAGIC) {
    return new ProtocolError('bad-magic', `not a vmd frame (first byte ${hex(lead)})`);
  }
  if (filled >= 1 && (lead & 0x0f) !== FRAME_VERSION) {
    return new ProtocolError(
      'bad-version',
      `unsupported frame version ${lead & 0x0f} (this side speaks ${FRAME_VERSION})`,
    );
  }
  const flags = header[1] ?? 0;
  if (filled >= 2 && flags !== 0) {
    return new ProtocolError('bad-flags', `unknown frame flags ${hex(flags)}`);
  }
  return null;
}

/**
 * The incremental decoder. Feed it every chunk read from the stream with {@link push}, in
 * order; call {@link end} when the stream ends.
 *
 * ```ts
 * const decoder = new FrameDecoder();
 * socket.on('data', (chunk) => decoder.push(chunk, (frame) => handle(frame)));
 * socket.on('end', () => decoder.end());
 * ```
 */
export class FrameDecoder {
  /** The payload limit in force. */
  readonly maxPayload: number;
  private readonly header = new Uint8Array(HEADER_SIZE);
  private headerFilled = 0;
  private payload: Uint8Array | null = null;
  private payloadFilled = 0;
  private failure: ProtocolError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxPayload = checkMaxPayload(options.maxPayload ?? DEFAULT_MAX_PAYLOAD);
  }

  /** The error that stopped this decoder, or null while it works. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /** Bytes held for the frame in progress (header and payload received so far). */
  get buffered(): number {
    return this.headerFilled + this.payloadFilled;
  }

  /**
   * Bytes allocated for the frame in progress: the header, plus the payload buffer once a
   * valid header has announced it. Never more than `HEADER_SIZE + maxPayload`.
   */
  get capacity(): number {
    return HEADER_SIZE + (this.payload?.length ?? 0);
  }

  /**
   * Decodes `chunk`, calling `onFrame` for each frame it completes, in order. Throws a
   * {@link ProtocolError} at the first bad header, after delivering the frames before it; the
   * decoder then stays failed and throws that error again on every call. An exception thrown
   * by `onFrame` propagates and also fails the decoder (`aborted`): the rest of the chunk was
   * not decoded, so the stream cannot go on.
   */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failure !== null) throw this.failure;
    let pos = 0;
    while (pos < chunk.length) {
      let payload = this.payload;
      if (payload === null) {
        const take = Math.min(HEADER_SIZE - this.headerFilled, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFilled);
        this.headerFilled += take;
        pos += take;
        const bad = checkLeadBytes(this.header, this.headerFilled);
        if (bad !== null) this.fail(bad);
        if (this.headerFilled < HEADER_SIZE) return;
        payload = this.startPayload();
      } else {
        const take = Math.min(payload.length - this.payloadFilled, chunk.length - pos);
        payload.set(chunk.subarray(pos, pos + take), this.payloadFilled);
        this.payloadFilled += take;
        pos += take;
      }
      if (payload.length === this.payloadFilled) this.deliver(payload, onFrame);
    }
  }

  /**
   * Declares the end of the stream: throws a `truncated` {@link ProtocolError} when it ended
   * inside a frame (and the stored error if the decoder had already failed).
   */
  end(): void {
    if (this.failure !== null) throw this.failure;
    if (this.buffered > 0) {
      this.fail(
        new ProtocolError(
          'truncated',
          `stream ended inside a frame (${this.buffered} bytes of it received)`,
        ),
      );
    }
  }

  /** Stops the decoder for good with `error`, releasing the payload buffer. */
  private fail(error: ProtocolError): never {
    this.failure = error;
    this.payload = null;
    this.headerFilled = 0;
    this.payloadFilled = 0;
    throw error;
  }

  /** The header is complete: refuse it, or allocate exactly the payload it announces. */
  private startPayload(): Uint8Array {
    const view = new DataView(this.header.buffer);
    const length = view.getUint32(8);
    if (length > this.maxPayload) {
      this.fail(
        new ProtocolError(
          'oversized',
          `frame payload of ${length} bytes exceeds the limit of ${this.maxPayload}`,
        ),
      );
    }
    this.payload = new Uint8Array(length);
    this.payloadFilled = 0;
    return this.payload;
  }

  private deliver(payload: Uint8Array, onFrame: (frame: Frame) => void): void {
    const view = new DataView(this.header.buffer);
    const frame: Frame = { type: view.getUint16(2), id: view.getUint32(4), payload };
    this.headerFilled = 0;
    this.payload = null;
    this.payloadFilled = 0;
    try {
      onFrame(frame);
    } catch (error) {
      this.failure = new ProtocolError('aborted', 'frame decoding stopped: a handler failed');
      throw error;
    }
  }
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`frame ${name} must be an integer in [0, ${max}], got ${value}`);
  }
}

/**
 * Encodes one frame (flags 0). Throws a RangeError for a type or id the header cannot hold,
 * and an `oversized` {@link ProtocolError} for a payload above `maxPayload` (which the peer
 * would refuse).
 */
export function encodeFrame(frame: Frame, maxPayload = DEFAULT_MAX_PAYLOAD): Uint8Array {
  checkField('type', frame.type, 0xffff);
  checkField('id', frame.id, 0xffffffff);
  if (frame.payload.length > checkMaxPayload(maxPayload)) {
    throw new ProtocolError(
      'oversized',
      `frame payload of ${frame.payload.length} bytes exceeds the limit of ${maxPayload}`,
    );
  }
  const bytes = new Uint8Array(HEADER_SIZE + frame.payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, FRAME_MAGIC | FRAME_VERSION);
  view.setUint8(1, 0);
  view.setUint16(2, frame.type);
  view.setUint32(4, frame.id);
  view.setUint32(8, frame.payload.length);
  bytes.set(frame.payload, HEADER_SIZE);
  return bytes;
}
