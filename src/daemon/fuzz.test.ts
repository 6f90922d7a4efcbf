/**
 * A seeded fuzz run of the frame decoder and the message validator: random bytes, mutated
 * frames and mutated JSON payloads, fed in random chunks. Whatever comes in, the only error
 * may be a ProtocolError, the decoder's memory stays bounded, and every message accepted
 * encodes back to one that decodes the same. Set VMD_FUZZ_SEED and VMD_FUZZ_ROUNDS for a
 * longer campaign.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeMessage, encodeMessage } from './codec.js';
import {
  DEFAULT_MAX_PAYLOAD,
  FrameDecoder,
  HEADER_SIZE,
  MAX_ERROR_TEXT,
  printable,
  ProtocolError,
} from './frame.js';
import { Fuzzer, fuzzFrame } from './fuzz_frames.js';
import { SAMPLE_MESSAGES } from './message_samples.js';
import { MESSAGE_CODES, type Message } from './messages.js';

const SEED = Number(process.env.VMD_FUZZ_SEED ?? 0x5eed);
const ROUNDS = Number(process.env.VMD_FUZZ_ROUNDS ?? 12_000);

interface Tally {
  accepted: number;
  refused: number;
}

/**
 * Feeds `stream` in random chunks to a decoder whose handler validates each message. Returns
 * how many messages were accepted and whether the stream was refused.
 */
function run(f: Fuzzer, stream: Uint8Array, maxPayload: number, tally: Tally): void {
  const decoder = new FrameDecoder({ maxPayload });
  const check = (message: Message): void => {
    // A message accepted once is accepted again, unchanged, after re-encoding.
    const again = decodeMessage({
      type: MESSAGE_CODES[message.type],
      id: 0,
      payload: encodeMessage(message).subarray(HEADER_SIZE),
    });
    assert.deepEqual(again, message);
    tally.accepted++;
  };
  try {
    for (let at = 0; at < stream.length;) {
      const size = 1 + f.int(f.int(3) === 0 ? 8 : 300);
      decoder.push(stream.subarray(at, at + size), (frame) => {
        check(decodeMessage(frame));
      });
      assert.ok(decoder.capacity <= HEADER_SIZE + maxPayload, 'decoder memory bound');
      at += size;
    }
    decoder.end();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    // Whatever the peer sent, the error can be logged and sent back to it as it is.
    assert.ok(error.message.length <= MAX_ERROR_TEXT, 'error text is bounded');
    assert.equal(printable(error.message), error.message, 'error text is printable');
    encodeMessage({ type: 'fail', error: 71, detail: error.message });
    tally.refused++;
  }
}

test(`fuzz: ${ROUNDS} random and mutated frames, seed ${SEED}`, { timeout: 120_000 }, () => {
  const f = new Fuzzer(SEED);
  const tally: Tally = { accepted: 0, refused: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const maxPayload = f.pick([64, 4096, DEFAULT_MAX_PAYLOAD]);
    try {
      run(f, fuzzFrame(f), maxPayload, tally);
    } catch (error) {
      assert.fail(
        `seed ${SEED}, round ${round}: ${error instanceof Error ? error.stack : String(error)}`,
      );
    }
  }
  // Both outcomes must be common, or the fuzzer is not reaching the validator.
  assert.ok(tally.accepted > ROUNDS / 20, `accepted ${tally.accepted}`);
  assert.ok(tally.refused > ROUNDS / 4, `refused ${tally.refused}`);
});

test(`fuzz: streams of several frames in random chunks, seed ${SEED}`, { timeout: 120_000 }, () => {
  const f = new Fuzzer(SEED ^ 0xa5a5a5a5);
  const tally: Tally = { accepted: 0, refused: 0 };
  for (let round = 0; round < ROUNDS / 6; round++) {
    const parts = Array.from({ length: 1 + f.int(6) }, () =>
      f.int(3) === 0 ? fuzzFrame(f) : encodeMessage(f.pick(SAMPLE_MESSAGES), round),
    );
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      stream.set(part, at);
      at += part.length;
    }
    try {
      run(f, stream, DEFAULT_MAX_PAYLOAD, tally);
    } catch (error) {
      assert.fail(
        `seed ${SEED}, stream ${round}: ${error instanceof Error ? error.stack : String(error)}`,
      );
    }
  }
  assert.ok(tally.accepted > ROUNDS / 6, `accepted ${tally.accepted}`);
  assert.ok(tally.refused > 0, `refused ${tally.refused}`);
});
