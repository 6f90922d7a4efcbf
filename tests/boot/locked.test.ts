/**
 * LOCK'd read-modify-writes are atomic against other threads writing guest RAM (SDM Vol. 3A,
 * 8.1.2.2): a worker thread adds to a word with Atomics.add while the guest increments it with
 * each LOCK'd form; no increment of either side may be lost.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { assembleGuest, REPO_ROOT } from '../guests/build_guest.js';
import { Machine } from '../../src/vm/machine.js';
import { join } from 'node:path';

const COUNTER = 0x300000;
const GO = 0x300040;
const DONE = 0x300080;
const ROUNDS = 2_000_000;

/** Adds 1 to COUNTER from GO until DONE; posts how many adds it made. */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { buffer, base, counter, go, done } = workerData;
const words = new Int32Array(buffer, base);
while (Atomics.load(words, go / 4) === 0) {}
let n = 0;
while (Atomics.load(words, done / 4) === 0) { Atomics.add(words, counter / 4, 1); n++; }
parentPort.postMessage(n);
`;

const FORMS = [
  [1, 'lock inc'],
  [2, 'lock xadd'],
  [3, 'lock cmpxchg loop'],
  [4, 'lock add'],
] as const;

for (const [form, name] of FORMS) {
  test(`${name} loses no increment to a concurrent writer`, async () => {
    const kernel = await assembleGuest(join(REPO_ROOT, 'tests/guests/locked.asm'), {
      FORM: form,
    });
    const machine = await Machine.create({
      kernel,
      memorySize: 64 * 1024 * 1024,
      console: { write: () => undefined },
    });
    const bytes = machine.vm.memory.bytes;
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        buffer: bytes.buffer,
        base: bytes.byteOffset,
        counter: COUNTER,
        go: GO,
        done: DONE,
      },
    });
    const adds = new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // Let the worker start spinning on GO before the guest runs.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stop = machine.run();
    const workerAdds = await adds;
    await worker.terminate();
    assert.equal(stop.kind, 'debug-exit', `${name}: guest stopped with ${stop.kind}`);
    const counter = machine.vm.memory.read32(COUNTER);
    assert.ok(workerAdds > 0, `${name}: the worker never ran alongside the guest`);
    assert.equal(
      counter,
      ROUNDS + workerAdds,
      `${name}: expected ${ROUNDS} guest + ${workerAdds} worker increments, counter is ${counter}`,
    );
  });
}
