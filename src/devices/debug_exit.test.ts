import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IoBus } from './bus.js';
import { DEBUG_EXIT_PORT, DebugExit } from './debug_exit.js';

function setup(): { dev: DebugExit; codes: number[] } {
  const codes: number[] = [];
  const dev = new DebugExit({ onExit: (code) => codes.push(code) });
  return { dev, codes };
}

test('DebugExit reports (v << 1) | 1 for a byte write', () => {
  const { dev, codes } = setup();
  dev.pioWrite(DEBUG_EXIT_PORT, 1, 0);
  dev.pioWrite(DEBUG_EXIT_PORT, 1, 0x10);
  dev.pioWrite(DEBUG_EXIT_PORT, 1, 0x1ff); // only the written byte counts
  assert.deepEqual(codes, [1, 0x21, 0x1ff]);
});

test('DebugExit uses all the bits of a wider write', () => {
  const { dev, codes } = setup();
  dev.pioWrite(DEBUG_EXIT_PORT, 2, 0x1234);
  dev.pioWrite(DEBUG_EXIT_PORT, 4, 0xffffffff);
  dev.pioWrite(DEBUG_EXIT_PORT, 4, -1); // a signed int32 from the engine is the same bits
  assert.deepEqual(codes, [0x2469, 0x1ffffffff, 0x1ffffffff], 'expected 33-bit codes kept');
});

test('DebugExit reads return all ones for the size', () => {
  const { dev, codes } = setup();
  assert.deepEqual(
    ([1, 2, 4] as const).map((size) => dev.pioRead(DEBUG_EXIT_PORT, size)),
    [0xff, 0xffff, 0xffffffff],
  );
  assert.deepEqual(codes, [], 'expected reads not to exit');
});

test('DebugExit exits through the bus at port 0xf4', () => {
  const { dev, codes } = setup();
  const bus = new IoBus();
  bus.addPio(DEBUG_EXIT_PORT, 1, dev);
  bus.pioWrite(0xf4, 1, 3);
  assert.deepEqual(codes, [7]);
  assert.equal(bus.describe()[0]?.device, 'debug-exit', 'expected the default name');
});

test('DebugExit state round-trips and rejects another device or version', () => {
  const { dev } = setup();
  const state = dev.saveState();
  assert.deepEqual(state, { device: 'debug-exit', version: 1 });
  dev.loadState(state);
  assert.throws(() => {
    dev.loadState({ device: 'ns8250', version: 1 });
  }, /debug-exit: cannot load state of ns8250 version 1/);
  assert.throws(() => {
    dev.loadState({ device: 'debug-exit', version: 2 });
  }, /version 2/);
});
