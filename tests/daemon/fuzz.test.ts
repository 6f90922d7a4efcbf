/**
 * A seeded fuzz run against a running vmd: valid requests mixed with random, mutated and
 * malformed frames (the generator of src/daemon/fuzz.test.ts), written over many connections
 * of its real socket, several at a time. Each connection ends with a status request and shuts
 * down its side; vmd answers it unless a frame before it was refused. Afterwards vmd must still answer status, with the
 * same control process: no frame may take a process down. VMD_FUZZ_SEED and VMD_FUZZ_FRAMES
 * set a longer campaign.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { encodeMessage } from '../../src/daemon/codec.js';
import { FrameDecoder } from '../../src/daemon/frame.js';
import { Fuzzer, fuzzFrame } from '../../src/daemon/fuzz_frames.js';
import { SAMPLE_MESSAGES } from '../../src/daemon/message_samples.js';
import { CLIENT_REQUESTS, MESSAGE_CODES } from '../../src/daemon/messages.js';
import { buildGuest } from '../guests/build_guest.js';
import { childrenOf, processExists, TestVmd } from './harness.js';

const SEED = Number(process.env.VMD_FUZZ_SEED ?? 0xd43d);
const FRAMES = Number(process.env.VMD_FUZZ_FRAMES ?? 10_000);
/** Connections open at once. */
const PARALLEL = 4;
/** The id of the status request that ends a connection's frames. */
const MARKER_ID = 0xfffffff0;

/** The sample messages that vmctl may send. */
const REQUESTS = SAMPLE_MESSAGES.filter((message) => CLIENT_REQUESTS.has(message.type));

interface Tally {
  frames: number;
  connections: number;
  /** Frames vmd sent back, over all connections. */
  replies: number;
  /** Connections whose closing status request was answered. */
  answered: number;
  /** Replies that were not frames (there must be none). */
  badReplies: string[];
}

/**
 * Writes `frames` and a closing status request on a new connection and shuts down its side;
 * settles when vmd has closed the connection (after answering, or at a bad frame).
 */
function fuzzConnection(path: string, frames: Uint8Array[], tally: Tally): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          tally.replies++;
          if (frame.id === MARKER_ID && frame.type === MESSAGE_CODES['get-info-vm-end-data']) {
            tally.answered++;
          }
        });
      } catch (error) {
        tally.badReplies.push(String(error));
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      resolve();
    });
    socket.once('connect', () => {
      tally.connections++;
      for (const frame of frames) socket.write(frame);
      socket.end(encodeMessage({ type: 'get-info-vm-request' }, MARKER_ID));
    });
  });
}

test(
  `fuzz: vmd survives ${FRAMES} random and malformed frames on its socket, seed ${SEED}`,
  { timeout: 120_000 },
  async (t) => {
    const kernel = await buildGuest('idle');
    const vmd = await TestVmd.start(
      `vm "quiet" {\n\tmemory 32M\n\tboot "${kernel}"\n\tdisable\n}\n`,
    );
    try {
      const control = childrenOf(vmd.child.pid ?? 0);
      assert.equal(control.length, 1, 'one child: the control process');
      const f = new Fuzzer(SEED);
      const tally: Tally = { frames: 0, connections: 0, replies: 0, answered: 0, badReplies: [] };
      const worker = async (): Promise<void> => {
        while (tally.frames < FRAMES) {
          // A few valid requests around the fuzzed frames, so that the parent sees traffic too
          // and a connection that survives its frames is answered.
          const fuzzed = Array.from({ length: 1 + f.int(3) }, () => fuzzFrame(f));
          const frames = [...fuzzed];
          for (let n = f.int(4); n > 0; n--) {
            frames.splice(
              f.int(frames.length + 1),
              0,
              encodeMessage(f.pick(REQUESTS), 1 + f.int(1000)),
            );
          }
          tally.frames += fuzzed.length;
          await fuzzConnection(vmd.socketPath, frames, tally);
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      assert.ok(tally.frames >= FRAMES, `${tally.frames} fuzzed frames sent`);
      assert.deepEqual(tally.badReplies, [], 'vmd sends only well-formed frames');
      t.diagnostic(JSON.stringify(tally));
      // Both endings must occur, or the fuzzer is not reaching the parent or not the validator.
      assert.ok(
        tally.answered > tally.connections / 100,
        `${tally.answered} of ${tally.connections} connections answered`,
      );
      assert.ok(
        tally.replies > tally.connections,
        `${tally.replies} replies on ${tally.connections} connections`,
      );

      const client = await vmd.client();
      const status = await client.request({ type: 'get-info-vm-request' });
      assert.equal(status.at(-1)?.type, 'get-info-vm-end-data', 'vmd still answers status');
      client.close();
      assert.ok(processExists(vmd.child.pid ?? 0), 'the parent is alive');
      assert.deepEqual(
        childrenOf(vmd.child.pid ?? 0).filter((pid) => control.includes(pid)),
        control,
        'the same control process serves',
      );
      // No request made a handler throw, and nothing reached the control process's last resort.
      const trouble = vmd.log.filter((line) =>
        /control process exited|request failed|unexpected error/.test(line),
      );
      assert.deepEqual(trouble, []);
    } finally {
      assert.equal(await vmd.stop(), 0, 'vmd exits 0 on SIGTERM');
    }
  },
);
