import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IoBus } from './bus.js';
import {
  ELCR,
  I8259,
  OCW2_EOI,
  OCW2_ROTATE_EOI,
  OCW2_SET_PRIORITY,
  OCW2_SPECIFIC_EOI,
  OCW3_ESMM,
  OCW3_P,
  OCW3_RIS,
  OCW3_RR,
  OCW3_SELECT,
  OCW3_SMM,
  PIC_MASTER,
  PIC_SLAVE,
} from './i8259.js';
import type { DeviceState } from './types.js';

const MASTER_BASE = 0x30;
const SLAVE_BASE = 0x38;
const READ_IRR = OCW3_SELECT | OCW3_RR;
const READ_ISR = OCW3_SELECT | OCW3_RR | OCW3_RIS;

/** A PIC pair on a bus, with byte port helpers. */
function rig(onOutput?: (asserted: boolean) => void): {
  pic: I8259;
  outb: (port: number, value: number) => void;
  inb: (port: number) => number;
} {
  const bus = new IoBus();
  const pic = new I8259(onOutput ? { onOutput } : {});
  bus.addPio(PIC_MASTER, 2, pic);
  bus.addPio(PIC_SLAVE, 2, pic);
  bus.addPio(ELCR, 2, pic);
  return {
    pic,
    outb: (port, value) => {
      bus.pioWrite(port, 1, value);
    },
    inb: (port) => bus.pioRead(port, 1),
  };
}

/** The sequence of Linux's init_8259A(): ICW1 0x11, vector base, cascade, ICW4 0x01. */
function initLikeLinux(outb: (port: number, value: number) => void): void {
  outb(PIC_MASTER + 1, 0xff);
  outb(PIC_SLAVE + 1, 0xff);
  outb(PIC_MASTER, 0x11); // ICW1: edge, cascade, ICW4 follows
  outb(PIC_MASTER + 1, MASTER_BASE); // ICW2
  outb(PIC_MASTER + 1, 0x04); // ICW3: slave on IR2
  outb(PIC_MASTER + 1, 0x01); // ICW4: 8086 mode, normal EOI
  outb(PIC_SLAVE, 0x11);
  outb(PIC_SLAVE + 1, SLAVE_BASE);
  outb(PIC_SLAVE + 1, 0x02); // ICW3: slave ID 2
  outb(PIC_SLAVE + 1, 0x01);
}

function initialized(onOutput?: (asserted: boolean) => void): ReturnType<typeof rig> {
  const r = rig(onOutput);
  initLikeLinux(r.outb);
  return r;
}

test('after the Linux ICW sequence IRQ 0 is acknowledged as vector base + 0', () => {
  const { pic, outb, inb } = initialized();
  assert.equal(inb(PIC_MASTER + 1), 0x00, 'ICW1 cleared the IMR');
  assert.equal(pic.hasInterrupt(), false);
  pic.irq(0).raise();
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), MASTER_BASE);
  assert.equal(pic.hasInterrupt(), false, 'IRQ 0 is in service');
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x01, 'ISR bit 0 set by INTA');
  outb(PIC_MASTER, OCW2_EOI);
  assert.equal(inb(PIC_MASTER), 0x00, 'non-specific EOI cleared it');
});

test('the pair is masked until initialized', () => {
  const { pic, inb } = rig();
  assert.equal(inb(PIC_MASTER + 1), 0xff);
  pic.irq(1).raise();
  assert.equal(pic.hasInterrupt(), false);
});

test('a masked IRQ is not delivered until unmasked', () => {
  const { pic, outb } = initialized();
  outb(PIC_MASTER + 1, 0x02); // OCW1: mask IRQ 1
  pic.irq(1).pulse();
  assert.equal(pic.hasInterrupt(), false);
  outb(PIC_MASTER + 1, 0x00);
  assert.equal(pic.hasInterrupt(), true, 'the edge stayed latched in IRR');
  assert.equal(pic.acknowledge(), MASTER_BASE + 1);
});

test('IRQ 1 in service blocks IRQ 3 until EOI, but IRQ 0 preempts it', () => {
  const { pic, outb, inb } = initialized();
  pic.irq(1).pulse();
  assert.equal(pic.acknowledge(), MASTER_BASE + 1);
  pic.irq(3).pulse();
  assert.equal(pic.hasInterrupt(), false, 'lower priority than the level in service');
  pic.irq(0).pulse();
  assert.equal(pic.hasInterrupt(), true, 'higher priority nests');
  assert.equal(pic.acknowledge(), MASTER_BASE + 0);
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x03);
  outb(PIC_MASTER, OCW2_EOI); // ends IRQ 0, the highest in service
  assert.equal(inb(PIC_MASTER), 0x02);
  assert.equal(pic.hasInterrupt(), false, 'IRQ 1 still in service');
  outb(PIC_MASTER, OCW2_EOI);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), MASTER_BASE + 3);
});

test('a specific EOI clears only the level it names', () => {
  const { pic, outb, inb } = initialized();
  pic.irq(3).pulse();
  pic.acknowledge();
  pic.irq(1).pulse();
  pic.acknowledge();
  outb(PIC_MASTER, OCW2_SPECIFIC_EOI | 3);
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x02);
});

test('a slave IRQ comes through the cascade with the slave vector and sets master ISR bit 2', () => {
  const { pic, outb, inb } = initialized();
  pic.irq(12).pulse();
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), SLAVE_BASE + 4);
  outb(PIC_MASTER, READ_ISR);
  outb(PIC_SLAVE, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x04);
  assert.equal(inb(PIC_SLAVE), 0x10);
  // Linux ends a slave IRQ with a specific EOI to each controller.
  outb(PIC_SLAVE, OCW2_SPECIFIC_EOI | 4);
  outb(PIC_MASTER, OCW2_SPECIFIC_EOI | 2);
  assert.equal(inb(PIC_MASTER), 0x00);
  assert.equal(inb(PIC_SLAVE), 0x00);
  pic.irq(8).pulse();
  assert.equal(pic.acknowledge(), SLAVE_BASE + 0);
});

test('masking the cascade input holds back every slave IRQ', () => {
  const { pic, outb } = initialized();
  outb(PIC_MASTER + 1, 0x04);
  pic.irq(14).pulse();
  assert.equal(pic.hasInterrupt(), false);
  outb(PIC_MASTER + 1, 0x00);
  assert.equal(pic.acknowledge(), SLAVE_BASE + 6);
});

test('OCW3 selects IRR or ISR for reads of the command port; the data port reads IMR', () => {
  const { pic, outb, inb } = initialized();
  outb(PIC_MASTER + 1, 0x20); // mask IRQ 5: still recorded in IRR
  pic.irq(5).pulse();
  pic.irq(4).pulse();
  outb(PIC_MASTER, READ_IRR);
  assert.equal(inb(PIC_MASTER), 0x30);
  assert.equal(pic.acknowledge(), MASTER_BASE + 4);
  assert.equal(inb(PIC_MASTER), 0x20, 'IRR still selected; the acknowledged edge left it');
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x10);
  outb(PIC_MASTER, OCW3_SELECT); // RR = 0: no change of the selection
  assert.equal(inb(PIC_MASTER), 0x10);
  assert.equal(inb(PIC_MASTER + 1), 0x20);
});

test('an edge-triggered IRQ fires once per rising edge, however long its line stays high', () => {
  const { pic, outb } = initialized();
  pic.irq(10).raise();
  assert.equal(pic.acknowledge(), SLAVE_BASE + 2);
  outb(PIC_SLAVE, OCW2_EOI);
  outb(PIC_MASTER, OCW2_EOI);
  assert.equal(pic.hasInterrupt(), false, 'no new edge');
  pic.irq(10).lower();
  pic.irq(10).raise();
  assert.equal(pic.hasInterrupt(), true);
});

test('a level-triggered IRQ (ELCR) fires again after EOI while its line stays high', () => {
  const { pic, outb, inb } = initialized();
  outb(ELCR + 1, 0x04); // IRQ 10 level triggered
  assert.equal(inb(ELCR + 1), 0x04);
  pic.irq(10).raise();
  assert.equal(pic.acknowledge(), SLAVE_BASE + 2);
  outb(PIC_SLAVE, OCW2_EOI);
  outb(PIC_MASTER, OCW2_EOI);
  assert.equal(pic.hasInterrupt(), true, 'the line is still asserted');
  assert.equal(pic.acknowledge(), SLAVE_BASE + 2);
  // 8259A: a level input must be removed before the EOI to prevent a second interrupt.
  pic.irq(10).lower();
  outb(PIC_SLAVE, OCW2_EOI);
  outb(PIC_MASTER, OCW2_EOI);
  assert.equal(pic.hasInterrupt(), false);
});

test('the ELCR bits of IRQ 0, 1, 2, 8 and 13 stay edge-only', () => {
  const { outb, inb } = initialized();
  outb(ELCR, 0xff);
  outb(ELCR + 1, 0xff);
  assert.equal(inb(ELCR), 0xf8);
  assert.equal(inb(ELCR + 1), 0xde);
});

test('a level request withdrawn before INTA gives spurious IRQ 7 with no ISR bit', () => {
  const { pic, outb, inb } = initialized();
  outb(ELCR, 0x20); // IRQ 5 level triggered
  pic.irq(5).raise();
  assert.equal(pic.hasInterrupt(), true);
  pic.irq(5).lower();
  assert.equal(pic.acknowledge(), MASTER_BASE + 7);
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x00, 'Linux detects the spurious IRQ 7 by this');
});

test('a slave request withdrawn before INTA gives spurious IRQ 15, master IR2 in service', () => {
  const { pic, outb, inb } = initialized();
  outb(ELCR + 1, 0x08); // IRQ 11 level triggered
  pic.irq(11).raise();
  pic.irq(11).lower();
  assert.equal(pic.hasInterrupt(), true, "the master's IR2 edge is latched");
  assert.equal(pic.acknowledge(), SLAVE_BASE + 7);
  outb(PIC_MASTER, READ_ISR);
  outb(PIC_SLAVE, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x04);
  assert.equal(inb(PIC_SLAVE), 0x00);
});

test('an INTA with nothing pending answers IRQ 7', () => {
  const { pic } = initialized();
  assert.equal(pic.acknowledge(), MASTER_BASE + 7);
});

test('automatic EOI (ICW4 bit 1) leaves nothing in service', () => {
  const { pic, outb, inb } = rig();
  outb(PIC_MASTER, 0x13); // single, ICW4 needed
  outb(PIC_MASTER + 1, 0x08);
  outb(PIC_MASTER + 1, 0x03); // ICW4: AEOI, 8086
  pic.irq(1).pulse();
  assert.equal(pic.acknowledge(), 0x09);
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x00);
  pic.irq(3).pulse();
  assert.equal(pic.hasInterrupt(), true, 'no level in service blocks it');
});

test('in single mode (ICW1 SNGL) ICW4 follows ICW2 and the next data write is OCW1', () => {
  const { pic, outb, inb } = rig();
  outb(PIC_MASTER, 0x13);
  outb(PIC_MASTER + 1, 0x40);
  outb(PIC_MASTER + 1, 0x01);
  outb(PIC_MASTER + 1, 0xf7);
  assert.equal(inb(PIC_MASTER + 1), 0xf7);
  pic.irq(3).pulse();
  assert.equal(pic.acknowledge(), 0x43);
});

test('set priority and rotate on EOI change which level wins', () => {
  const { pic, outb } = initialized();
  outb(PIC_MASTER, OCW2_SET_PRIORITY | 3); // IR3 lowest, so IR4 highest
  pic.irq(1).pulse();
  pic.irq(5).pulse();
  assert.equal(pic.acknowledge(), MASTER_BASE + 5);
  outb(PIC_MASTER, OCW2_ROTATE_EOI); // IR5 becomes lowest, IR6 highest
  assert.equal(pic.acknowledge(), MASTER_BASE + 1);
  outb(PIC_MASTER, OCW2_EOI);
  pic.irq(7).pulse();
  pic.irq(0).pulse();
  assert.equal(pic.acknowledge(), MASTER_BASE + 7, 'IR7 outranks IR0 after the rotation');
});

test('the poll command returns the highest request and acknowledges it', () => {
  const { pic, outb, inb } = initialized();
  pic.irq(6).pulse();
  outb(PIC_MASTER, OCW3_SELECT | OCW3_P);
  assert.equal(inb(PIC_MASTER), 0x86);
  outb(PIC_MASTER, READ_ISR);
  assert.equal(inb(PIC_MASTER), 0x40);
  outb(PIC_MASTER, OCW3_SELECT | OCW3_P);
  assert.equal(inb(PIC_MASTER), 0x00, 'nothing pending: I = 0');
});

test('special mask mode lets lower levels through while a masked level is in service', () => {
  const { pic, outb } = initialized();
  pic.irq(1).pulse();
  pic.acknowledge();
  pic.irq(3).pulse();
  assert.equal(pic.hasInterrupt(), false);
  outb(PIC_MASTER, OCW3_SELECT | OCW3_ESMM | OCW3_SMM);
  outb(PIC_MASTER + 1, 0x02);
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), MASTER_BASE + 3);
  outb(PIC_MASTER, OCW3_SELECT | OCW3_ESMM); // leave special mask mode
  outb(PIC_MASTER + 1, 0x00);
  pic.irq(4).pulse();
  assert.equal(pic.hasInterrupt(), false, 'IR1 and IR3 in service block IR4 again');
});

test('the output callback follows the INT pin', () => {
  const seen: boolean[] = [];
  const { pic, outb } = initialized((asserted) => seen.push(asserted));
  pic.irq(4).raise();
  pic.acknowledge();
  outb(PIC_MASTER, OCW2_EOI);
  assert.deepEqual(seen, [true, false]);
});

test('IRQ 2 is the cascade, so its line is IRQ 9; numbers past 15 have no input', () => {
  const { pic } = initialized();
  assert.equal(pic.irq(2), pic.irq(9));
  pic.irq(2).pulse();
  assert.equal(pic.acknowledge(), SLAVE_BASE + 1);
  assert.throws(() => pic.irq(16), RangeError);
  assert.throws(() => pic.irq(-1), RangeError);
  assert.throws(() => pic.irq(1.5), RangeError);
});

test('saveState/loadState carry the whole pair, and foreign states are refused', () => {
  const a = initialized();
  a.outb(PIC_MASTER + 1, 0x08);
  a.outb(ELCR + 1, 0x02);
  a.pic.irq(1).pulse();
  a.pic.acknowledge();
  a.pic.irq(3).pulse();
  const saved = JSON.parse(JSON.stringify(a.pic.saveState())) as DeviceState;
  const b = rig();
  b.pic.loadState(saved);
  assert.equal(b.inb(PIC_MASTER + 1), 0x08);
  assert.equal(b.inb(ELCR + 1), 0x02);
  b.outb(PIC_MASTER, READ_ISR);
  assert.equal(b.inb(PIC_MASTER), 0x02);
  b.outb(PIC_MASTER, OCW2_EOI);
  b.outb(PIC_MASTER + 1, 0x00);
  assert.equal(b.pic.acknowledge(), MASTER_BASE + 3);
  assert.throws(() => {
    b.pic.loadState({ ...saved, version: 2 });
  }, /pic: cannot load state of i8259 version 2 \(expected i8259 version 1\)/);
  assert.throws(() => {
    b.pic.loadState({ device: 'i8254', version: 1 });
  }, /cannot load state of i8254/);
  assert.throws(() => {
    b.pic.loadState({ ...saved, master: { ...(saved.master as object), lowest: 9 } });
  }, /"lowest"/);
});
