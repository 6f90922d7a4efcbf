import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEFAULT_MAX_PAYLOAD,
  encodeFrame,
  FrameDecoder,
  HEADER_SIZE,
  ProtocolError,
  type Frame,
  type ProtocolErrorCode,
} from './frame.js';

const utf8 = new TextEncoder();

/** Frames of every size class: empty, one byte, a few bytes, larger than a typical read. */
const FRAMES: Frame[] = [
  { type: 0, id: 0, payload: new Uint8Array(0) },
  { type: 1, id: 1, payload: Uint8Array.of(0xa1) },
  { type: 0xffff, id: 0xffffffff, payload: utf8.encode('{"level":2}') },
  { type: 19, id: 77, payload: new Uint8Array(70_000).map((_, i) => i & 0xff) },
  { type: 4, id: 0x80000000, payload: new Uint8Array(0) },
];

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feeds `chunks` to a fresh decoder and returns the frames, checking the memory bound. */
function decodeChunks(chunks: readonly Uint8Array[], maxPayload = DEFAULT_MAX_PAYLOAD): Frame[] {
  const decoder = new FrameDecoder({ maxPayload });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk, (f) => frames.push(f));
    assert.ok(decoder.capacity <= HEADER_SIZE + maxPayload);
  }
  decoder.end();
  return frames;
}

function header(lead: number, flags: number, type: number, id: number, length: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, lead);
  view.setUint8(1, flags);
  view.setUint16(2, type);
  view.setUint32(4, id);
  view.setUint32(8, length);
  return bytes;
}

function assertProtocolError(fn: () => void, code: ProtocolErrorCode, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

test('encodeFrame() writes the 12-byte header big-endian, then the payload', () => {
  const bytes = encodeFrame({ type: 0x0102, id: 0x03040506, payload: Uint8Array.of(7, 8) });
  assert.deepEqual([...bytes], [0xa1, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 2, 7, 8]);
});

test('frames coalesced into one chunk come out in order, byte for byte', () => {
  const stream = concat(FRAMES.map((f) => encodeFrame(f)));
  assert.deepEqual(decodeChunks([stream]), FRAMES);
});

test('a stream split at every byte boundary decodes to the same frames', () => {
  const small = FRAMES.filter((f) => f.payload.length < 1000);
  const stream = concat(small.map((f) => encodeFrame(f)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const frames = decodeChunks([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(frames, small, `cut at ${cut}`);
  }
  const bytes = Array.from(stream, (b) => Uint8Array.of(b));
  assert.deepEqual(decodeChunks(bytes), small, 'one byte at a time');
});

test('a large frame split at every boundary of its header and across its payload', () => {
  const big = FRAMES[3];
  assert.ok(big !== undefined);
  const stream = concat([encodeFrame(big), encodeFrame(big)]);
  for (let cut = 0; cut <= HEADER_SIZE + 1; cut++) {
    const frames = decodeChunks([stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(frames, [big, big], `cut at ${cut}`);
  }
  for (const size of [1, 7, 4096, 65536, 70_011]) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
    assert.deepEqual(decodeChunks(chunks), [big, big], `chunks of ${size}`);
  }
});

test('a decoded payload owns its bytes: reusing the read buffer does not change it', () => {
  const chunk = encodeFrame({ type: 2, id: 3, payload: Uint8Array.of(1, 2, 3) });
  const frames = decodeChunks([chunk]);
  chunk.fill(0);
  assert.deepEqual([...(frames[0]?.payload ?? [])], [1, 2, 3]);
});

test('a wrong first byte is refused at that byte: magic, then version', () => {
  const decoder = new FrameDecoder();
  assertProtocolError(
    () => {
      decoder.push(utf8.encode('GET / HTTP/1.0\r\n'), () => undefined);
    },
    'bad-magic',
    /first byte 0x47/,
  );
  assert.equal(decoder.error?.code, 'bad-magic');
  assertProtocolError(
    () => {
      new FrameDecoder().push(Uint8Array.of(0xa2), () => undefined);
    },
    'bad-version',
    /version 2/,
  );
  assertProtocolError(() => {
    new FrameDecoder().push(Uint8Array.of(0xa0), () => undefined);
  }, 'bad-version');
  assertProtocolError(
    () => {
      new FrameDecoder().push(Uint8Array.of(0xa1, 0x01), () => undefined);
    },
    'bad-flags',
    /0x01/,
  );
});

test('an oversized length is refused from the header alone, before any allocation', () => {
  for (const [length, limit] of [
    [0xffffffff, DEFAULT_MAX_PAYLOAD],
    [DEFAULT_MAX_PAYLOAD + 1, DEFAULT_MAX_PAYLOAD],
    [17, 16],
    [1, 0],
  ] as const) {
    const decoder = new FrameDecoder({ maxPayload: limit });
    const head = header(0xa1, 0, 4, 1, length);
    decoder.push(head.subarray(0, HEADER_SIZE - 1), () => undefined);
    assert.equal(decoder.capacity, HEADER_SIZE);
    assertProtocolError(
      () => {
        decoder.push(head.subarray(HEADER_SIZE - 1), () => undefined);
      },
      'oversized',
      new RegExp(`${length} bytes exceeds the limit of ${limit}`),
    );
    assert.equal(decoder.capacity, HEADER_SIZE, 'no payload buffer was allocated');
  }
});

test('a payload of exactly the limit is accepted; the buffer is exactly its size', () => {
  const decoder = new FrameDecoder({ maxPayload: 4096 });
  const frame = encodeFrame({ type: 5, id: 6, payload: new Uint8Array(4096).fill(9) }, 4096);
  decoder.push(frame.subarray(0, HEADER_SIZE + 10), () => undefined);
  assert.equal(decoder.capacity, HEADER_SIZE + 4096);
  assert.equal(decoder.buffered, HEADER_SIZE + 10);
  const frames: Frame[] = [];
  decoder.push(frame.subarray(HEADER_SIZE + 10), (f) => frames.push(f));
  assert.equal(frames[0]?.payload.length, 4096);
  assert.equal(decoder.capacity, HEADER_SIZE);
  assert.equal(decoder.buffered, 0);
});

test('frames before a bad header are delivered; the decoder then stays failed', () => {
  const good = encodeFrame({ type: 1, id: 2, payload: utf8.encode('{}') });
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  assertProtocolError(() => {
    decoder.push(concat([good, Uint8Array.of(0x00)]), (f) => frames.push(f));
  }, 'bad-magic');
  assert.equal(frames.length, 1);
  assertProtocolError(() => {
    decoder.push(good, (f) => frames.push(f));
  }, 'bad-magic');
  assertProtocolError(() => {
    decoder.end();
  }, 'bad-magic');
  assert.equal(frames.length, 1);
});

test('end() inside a frame is a truncated stream; between frames it is clean', () => {
  const frame = encodeFrame({ type: 1, id: 2, payload: Uint8Array.of(1, 2, 3) });
  for (let cut = 1; cut < frame.length; cut++) {
    const decoder = new FrameDecoder();
    decoder.push(frame.subarray(0, cut), () => undefined);
    assertProtocolError(
      () => {
        decoder.end();
      },
      'truncated',
      new RegExp(`${cut} bytes`),
    );
  }
  const decoder = new FrameDecoder();
  decoder.push(frame, () => undefined);
  decoder.end();
});

test('a handler that throws propagates and leaves the decoder aborted', () => {
  const frame = encodeFrame({ type: 1, id: 2, payload: new Uint8Array(0) });
  const decoder = new FrameDecoder();
  assert.throws(() => {
    decoder.push(concat([frame, frame]), () => {
      throw new TypeError('handler bug');
    });
  }, TypeError);
  assertProtocolError(() => {
    decoder.push(frame, () => undefined);
  }, 'aborted');
});

test('encodeFrame() refuses what the header cannot hold and payloads above the limit', () => {
  const payload = new Uint8Array(0);
  assert.throws(() => encodeFrame({ type: 0x10000, id: 0, payload }), RangeError);
  assert.throws(() => encodeFrame({ type: -1, id: 0, payload }), RangeError);
  assert.throws(() => encodeFrame({ type: 1.5, id: 0, payload }), RangeError);
  assert.throws(() => encodeFrame({ type: 0, id: 2 ** 32, payload }), RangeError);
  assertProtocolError(
    () => encodeFrame({ type: 0, id: 0, payload: new Uint8Array(9) }, 8),
    'oversized',
  );
  assert.throws(() => new FrameDecoder({ maxPayload: 2 ** 32 }), RangeError);
  assert.throws(() => new FrameDecoder({ maxPayload: -1 }), RangeError);
});
