import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_IO, PCI_STATUS_INTERRUPT } from '../pci_config.js';
import {
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_PCI_CONFIG,
  VIRTIO_PCI_GUEST_FEATURES,
  VIRTIO_PCI_HOST_FEATURES,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_QUEUE_NUM,
  VIRTIO_PCI_QUEUE_PFN,
  VIRTIO_PCI_QUEUE_SEL,
  VIRTIO_PCI_STATUS,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
} from './constants.js';
import {
  HARNESS_IRQ,
  HARNESS_SLOT,
  configRead,
  configWrite,
  makeHarness,
} from './driver_harness.js';
import { VirtioRng } from './virtio_rng.js';

const RING_PFN = 0x10;

function rngHarness(): ReturnType<typeof makeHarness> {
  return makeHarness(new VirtioRng('viornd0'));
}

test('the function is a legacy virtio-rng: IDs, class, INTA# and the routed interrupt line', () => {
  const { bus } = rngHarness();
  assert.equal(configRead(bus, HARNESS_SLOT, 0x00), 0x10051af4, 'vendor 1af4, device 1005');
  assert.equal(configRead(bus, HARNESS_SLOT, 0x08), 0x08800000, 'class 08 80 00, revision 0');
  assert.equal(configRead(bus, HARNESS_SLOT, 0x2c), 0x00041af4, 'subsystem 1af4:0004 (entropy)');
  assert.equal(configRead(bus, HARNESS_SLOT, 0x3c) & 0xffff, 0x0100 | HARNESS_IRQ, 'INTA#, IRQ');
  assert.equal(configRead(bus, 0, 0x00), 0x06660b5d, "the host bridge is vmd's 0b5d:0666");
});

test('BAR 0 is a 256-byte I/O BAR: firmware placed it at 0x1000, sizing reads 0xffffff01', () => {
  const { bus, driver } = rngHarness();
  assert.equal(configRead(bus, HARNESS_SLOT, 0x10), 0x1001, 'I/O BAR at 0x1000');
  assert.equal(driver.ioBase, 0x1000);
  assert.equal(configRead(bus, HARNESS_SLOT, 0x04) & 0xffff, PCI_COMMAND_IO, 'I/O decode on');
  configWrite(bus, HARNESS_SLOT, 0x10, 0xffffffff);
  assert.equal(configRead(bus, HARNESS_SLOT, 0x10), 0xffffff01, 'size mask of 256 bytes, I/O');
  assert.equal(configRead(bus, HARNESS_SLOT, 0x14), 0, 'BAR 1 is unimplemented');
  configWrite(bus, HARNESS_SLOT, 0x10, 0x1000);
  assert.equal(configRead(bus, HARNESS_SLOT, 0x10), 0x1001);
});

test('the command register gates the BAR, and a moved BAR decodes at its new ports', () => {
  const { bus, driver } = rngHarness();
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_NUM, 2), 64, 'queue 0 has 64 entries');
  configWrite(bus, HARNESS_SLOT, 0x04, 0);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_NUM, 2), 0xffff, 'I/O space disabled: nobody answers');
  driver.write(VIRTIO_PCI_QUEUE_SEL, 2, 5);
  configWrite(bus, HARNESS_SLOT, 0x04, PCI_COMMAND_IO);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_SEL, 2), 0, 'the write while disabled was not seen');
  configWrite(bus, HARNESS_SLOT, 0x10, 0x2300);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_NUM, 2), 0xffff, 'the old ports are free');
  driver.ioBase = 0x2300;
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_NUM, 2), 64, 'the new ports answer');
});

test('features: the driver may accept only what the device offers', () => {
  const { driver } = rngHarness();
  assert.equal(driver.read(VIRTIO_PCI_HOST_FEATURES, 4), 0, 'virtio-rng offers no features');
  driver.write(VIRTIO_PCI_GUEST_FEATURES, 4, 0xffffffff);
  assert.equal(driver.read(VIRTIO_PCI_GUEST_FEATURES, 4), 0, 'unoffered bits are dropped');
});

test('queue setup: size, page frame number, selects past the last queue, PFN 0 disables', () => {
  const { driver, transport } = rngHarness();
  driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_PFN, 4), RING_PFN);
  assert.equal(
    driver.read(VIRTIO_PCI_STATUS, 1) & VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_DRIVER_OK,
  );
  driver.write(VIRTIO_PCI_QUEUE_SEL, 2, 1);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_NUM, 2), 0, 'there is no queue 1');
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_PFN, 4), 0);
  driver.write(VIRTIO_PCI_QUEUE_PFN, 4, 0x20);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_PFN, 4), 0, 'a PFN for no queue is ignored');
  driver.write(VIRTIO_PCI_QUEUE_SEL, 2, 0);
  driver.write(VIRTIO_PCI_QUEUE_PFN, 4, 0);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_PFN, 4), 0, 'queue 0 disabled');
  assert.equal(transport.broken, false);
  assert.equal(driver.read(VIRTIO_PCI_CONFIG, 4), 0xffffffff, 'no device configuration');
});

test('a completion asserts INTA# level-triggered: re-raised after EOI until the ISR is read', () => {
  const { driver, pic, transport, intx, irqRequested } = rngHarness();
  driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  assert.equal(pic.hasInterrupt(), false, 'nothing pending before a request');
  driver.submit(0, [{ in: 16 }]);
  assert.equal(driver.usedIndex(0), 1, 'the request was used at once');
  assert.equal(pic.hasInterrupt(), true, 'INTA# asserted');
  assert.equal(pic.acknowledge(), 0x38 + HARNESS_IRQ - 8, 'vector of IRQ 10 on the slave');
  assert.equal(pic.hasInterrupt(), false, 'in service');
  // Non-specific EOI to the slave, then to the master: the line is still high, so the level
  // request is pending again.
  for (const port of [0xa0, 0x20]) pic.pioWrite(port, 1, 0x20);
  assert.equal(pic.hasInterrupt(), true, 'level: re-raised after EOI while the ISR is unread');
  assert.equal(
    (transport.pci.configRead(0x04) >>> 16) & PCI_STATUS_INTERRUPT,
    PCI_STATUS_INTERRUPT,
  );
  assert.equal(driver.read(VIRTIO_PCI_ISR, 1), 1, 'ISR bit 0: a queue interrupt');
  assert.equal(intx(), false, 'reading the ISR deasserts INTA#');
  assert.equal(irqRequested(), false, 'and the level request is gone from the IRR');
  assert.equal(driver.read(VIRTIO_PCI_ISR, 1), 0, 'and clears it');
  assert.equal((transport.pci.configRead(0x04) >>> 16) & PCI_STATUS_INTERRUPT, 0);
});

test("the command register's interrupt disable bit holds INTA# low", () => {
  const { bus, driver, pic } = rngHarness();
  driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  configWrite(bus, HARNESS_SLOT, 0x04, PCI_COMMAND_IO | PCI_COMMAND_INTX_DISABLE);
  driver.submit(0, [{ in: 8 }]);
  assert.equal(pic.hasInterrupt(), false, 'INTx disabled');
  const status = configRead(bus, HARNESS_SLOT, 0x04) >>> 16;
  assert.equal(status & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT, 'status still shows it');
  configWrite(bus, HARNESS_SLOT, 0x04, PCI_COMMAND_IO);
  assert.equal(pic.hasInterrupt(), true, 'enabling INTx lets the pending level through');
});

test('VIRTQ_AVAIL_F_NO_INTERRUPT: the used ring is written without an interrupt', () => {
  const { driver, pic } = rngHarness();
  driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  driver.setAvailableFlags(0, VIRTQ_AVAIL_F_NO_INTERRUPT);
  driver.submit(0, [{ in: 8 }]);
  assert.equal(driver.usedIndex(0), 1);
  assert.equal(pic.hasInterrupt(), false);
  assert.equal(driver.read(VIRTIO_PCI_ISR, 1), 0);
});

test('writing status 0 resets features, queues and the ISR', () => {
  const { driver, intx, irqRequested } = rngHarness();
  driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  driver.submit(0, [{ in: 8 }]);
  assert.equal(intx(), true);
  assert.equal(irqRequested(), true);
  driver.write(VIRTIO_PCI_STATUS, 1, 0);
  assert.equal(intx(), false, 'reset lowers INTA#');
  assert.equal(irqRequested(), false, 'the level request is withdrawn');
  assert.equal(driver.read(VIRTIO_PCI_STATUS, 1), 0);
  assert.equal(driver.read(VIRTIO_PCI_QUEUE_PFN, 4), 0);
  assert.equal(driver.read(VIRTIO_PCI_ISR, 1), 0);
});

test("saveState/loadState: a second device continues the first one's queue", () => {
  const a = rngHarness();
  a.driver.start(0, [{ index: 0, pfn: RING_PFN }]);
  a.driver.submit(0, [{ in: 8 }]);
  const saved = structuredClone(a.transport.saveState());
  const b = rngHarness();
  b.memory.write(0, a.memory.view(0, a.memory.size));
  b.transport.loadState(saved);
  assert.equal(b.driver.read(VIRTIO_PCI_QUEUE_PFN, 4), RING_PFN);
  assert.equal(b.driver.read(VIRTIO_PCI_ISR, 1), 1, 'the pending ISR came along');
  b.driver.adoptQueue(0, RING_PFN, { availIdx: 1, nextDesc: 1 });
  b.driver.submit(0, [{ in: 8 }]);
  assert.equal(b.driver.usedIndex(0), 2, 'the used index went on from 1');
  assert.throws(() => {
    b.transport.loadState({ ...saved, isr: 9 });
  }, /"isr" must be an integer from 0 to 3/);
  assert.throws(() => {
    b.transport.loadState({ ...saved, inFlight: [[64]] });
  }, /inFlight\[0\]/);
});
