/**
 * A hostile driver: rings and chains no honest driver makes. Each time the device must stop
 * cleanly — DEVICE_NEEDS_RESET, a configuration interrupt, one warning in the log — without an
 * exception, without touching guest memory, and work again after a reset.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { initLog } from '../../common/log.js';
import {
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_ISR_CONFIG,
  VIRTIO_PCI_QUEUE_PFN,
  VIRTIO_PCI_QUEUE_SEL,
  VIRTIO_PCI_STATUS,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
} from './constants.js';
import { makeHarness } from './driver_harness.js';
import type { Harness, RawDescriptor } from './driver_harness.js';
import { VirtioRng } from './virtio_rng.js';

const RAM = 1 << 20;
const RING_PFN = 0x10;
const BUFFER = 0x80000;

const logged: string[] = [];
initLog('test', { sink: (line) => logged.push(line) });
after(() => {
  initLog('vmd');
});

function started(): Harness {
  const h = makeHarness(new VirtioRng('viornd0'), RAM);
  h.driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  return h;
}

/** Checks the error state, that RAM still holds `before`, and that a reset recovers. */
function assertFailedCleanly(h: Harness, before: Uint8Array, what: string): void {
  assert.equal(h.transport.broken, true, `${what}: the device is in its error state`);
  const status = h.driver.read(VIRTIO_PCI_STATUS, 1);
  assert.equal(
    status & VIRTIO_CONFIG_S_NEEDS_RESET,
    VIRTIO_CONFIG_S_NEEDS_RESET,
    `${what}: status`,
  );
  assert.equal(h.intx(), true, `${what}: the driver is interrupted`);
  assert.ok(
    h.memory.view(0, RAM).every((b, i) => b === before[i]),
    `${what}: guest memory is untouched`,
  );
  assert.equal(h.driver.read(VIRTIO_PCI_ISR, 1), VIRTIO_PCI_ISR_CONFIG, `${what}: config change`);
  // Further notifies are ignored while broken.
  h.driver.notify(0);
  assert.ok(
    h.memory.view(0, RAM).every((b, i) => b === before[i]),
    `${what}: still untouched`,
  );
  h.driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  assert.equal(h.transport.broken, false, `${what}: a reset clears the error state`);
  h.driver.submit(0, [{ in: 32 }]);
  assert.equal(h.driver.usedIndex(0), 1, `${what}: the device works again after a reset`);
}

/** Writes `descriptors` from index 0, makes descriptor 0 available and notifies. */
function offer(h: Harness, descriptors: readonly RawDescriptor[]): Uint8Array {
  descriptors.forEach((d, i) => {
    h.driver.writeDescriptor(0, i, d);
  });
  h.driver.pushAvailable(0, 0);
  const before = h.memory.view(0, RAM).slice();
  h.driver.notify(0);
  return before;
}

const cases: readonly { what: string; chain: RawDescriptor[] }[] = [
  {
    what: 'a buffer entirely outside RAM',
    chain: [{ addr: RAM + 0x1000, len: 64, flags: VIRTQ_DESC_F_WRITE, next: 0 }],
  },
  {
    what: 'a buffer that runs past the end of RAM',
    chain: [{ addr: RAM - 16, len: 64, flags: VIRTQ_DESC_F_WRITE, next: 0 }],
  },
  {
    what: 'an oversized buffer (4 GiB - 1)',
    chain: [{ addr: BUFFER, len: 0xffffffff, flags: VIRTQ_DESC_F_WRITE, next: 0 }],
  },
  {
    what: 'an address above 2^53',
    chain: [{ addr: 2 ** 60, len: 64, flags: VIRTQ_DESC_F_WRITE, next: 0 }],
  },
  {
    what: 'a zero-length buffer',
    chain: [{ addr: BUFFER, len: 0, flags: VIRTQ_DESC_F_WRITE, next: 0 }],
  },
  {
    what: 'a chain that loops (0 -> 1 -> 0)',
    chain: [
      { addr: BUFFER, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 },
      { addr: BUFFER + 16, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 0 },
    ],
  },
  {
    what: 'a next index past the queue',
    chain: [{ addr: BUFFER, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 64 }],
  },
  {
    what: 'an indirect descriptor, never offered',
    chain: [{ addr: BUFFER, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 }],
  },
  {
    what: 'a readable buffer after a writable one',
    chain: [
      { addr: BUFFER, len: 16, flags: VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, next: 1 },
      { addr: BUFFER + 16, len: 16, flags: 0, next: 0 },
    ],
  },
];

for (const c of cases) {
  test(`hostile chain: ${c.what}`, () => {
    const h = started();
    const before = offer(h, c.chain);
    assertFailedCleanly(h, before, c.what);
  });
}

test('hostile ring: an available index far ahead of the device', () => {
  const h = started();
  h.driver.writeDescriptor(0, 0, { addr: BUFFER, len: 16, flags: VIRTQ_DESC_F_WRITE, next: 0 });
  h.driver.setAvailableIndex(0, 1000);
  const before = h.memory.view(0, RAM).slice();
  h.driver.notify(0);
  assertFailedCleanly(h, before, 'avail idx 1000 on a 64-entry queue');
});

test('hostile ring: a head index past the queue in the available ring', () => {
  const h = started();
  h.driver.pushAvailable(0, 0xffff);
  const before = h.memory.view(0, RAM).slice();
  h.driver.notify(0);
  assertFailedCleanly(h, before, 'head 65535');
});

test('hostile setup: queue page frame numbers whose rings leave RAM', () => {
  for (const pfn of [RAM / 4096, RAM / 4096 - 1, 0xffffffff]) {
    const h = makeHarness(new VirtioRng('viornd0'), RAM);
    const before = h.memory.view(0, RAM).slice();
    h.driver.write(VIRTIO_PCI_QUEUE_SEL, 2, 0);
    h.driver.write(VIRTIO_PCI_QUEUE_PFN, 4, pfn);
    assert.equal(h.driver.read(VIRTIO_PCI_QUEUE_PFN, 4), 0, `PFN ${pfn}: the queue stays off`);
    h.driver.notify(0);
    assertFailedCleanly(h, before, `PFN 0x${pfn.toString(16)}`);
  }
});

test('notifies of queues that do not exist or are not set up are ignored', () => {
  const h = makeHarness(new VirtioRng('viornd0'), RAM);
  const before = h.memory.view(0, RAM).slice();
  for (const q of [0, 1, 0xffff]) h.driver.notify(q);
  assert.equal(h.transport.broken, false);
  assert.deepEqual(h.memory.view(0, RAM), before);
});

test('the first failure is logged as a warning, later ones only at debug level', () => {
  const warnings = logged.filter((line) => line.includes('viornd0'));
  assert.ok(warnings.length > 0, 'the failures above were logged');
  const h = started();
  const count = logged.length;
  offer(h, [{ addr: RAM, len: 1, flags: VIRTQ_DESC_F_WRITE, next: 0 }]);
  offer(h, [{ addr: RAM, len: 1, flags: VIRTQ_DESC_F_WRITE, next: 0 }]);
  h.driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  offer(h, [{ addr: RAM, len: 1, flags: VIRTQ_DESC_F_WRITE, next: 0 }]);
  assert.equal(h.transport.broken, true);
  assert.equal(
    logged.length - count,
    1,
    `one line for three failures, got ${logged.slice(count).join(' | ')}`,
  );
  assert.match(
    logged.at(-1) ?? '',
    /viornd0: queue 0: descriptor 0: buffer 0x100000\+0x1 is outside RAM; the device needs a reset/,
  );
});
