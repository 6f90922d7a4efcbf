import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IoBus } from './bus.js';
import type { VirtualClock } from './clock.js';
import { I8254, NMISC_PORT, PIT_PORT, TIMER_MODE } from './i8254.js';
import { I8259, PIC_MASTER } from './i8259.js';
import type { DeviceState, IrqLine } from './types.js';

const PIT_HZ = 1_193_182n;
const CH0 = PIT_PORT;
const CH2 = PIT_PORT + 2;

/** Virtual time stepped by the test. */
class ManualClock implements VirtualClock {
  ns = 0n;
  now(): bigint {
    return this.ns;
  }
}

/** An IRQ line that counts rising edges. */
class EdgeCounter implements IrqLine {
  level = false;
  rises = 0;
  raise(): void {
    if (!this.level) this.rises++;
    this.level = true;
  }
  lower(): void {
    this.level = false;
  }
  pulse(): void {
    this.raise();
    this.lower();
  }
}

/** The first nanosecond at which the PIT's input clock has produced `k` edges since time 0. */
function atTick(k: number): bigint {
  return (BigInt(k) * 1_000_000_000n + PIT_HZ - 1n) / PIT_HZ;
}

function rig(irq: IrqLine = new EdgeCounter()): {
  pit: I8254;
  clock: ManualClock;
  outb: (port: number, value: number) => void;
  inb: (port: number) => number;
} {
  const clock = new ManualClock();
  const pit = new I8254({ clock, irq });
  // OUT0 is high at power-up; that first edge is not part of any test.
  if (irq instanceof EdgeCounter) irq.rises = 0;
  const bus = new IoBus();
  bus.addPio(PIT_PORT, 4, pit);
  bus.addPio(NMISC_PORT, 1, pit);
  return {
    pit,
    clock,
    outb: (port, value) => {
      bus.pioWrite(port, 1, value);
    },
    inb: (port) => bus.pioRead(port, 1),
  };
}

function readCount(inb: (port: number) => number, port: number): number {
  const lsb = inb(port);
  return lsb | (inb(port) << 8);
}

test('mode 2 with reload 1193 raises IRQ 0 every 1193 / 1.193182 MHz of virtual time', () => {
  const irq = new EdgeCounter();
  const { pit, clock, outb } = rig(irq);
  outb(TIMER_MODE, 0x34); // counter 0, LSB then MSB, mode 2, binary (Linux's periodic tick)
  outb(CH0, 1193 & 0xff);
  outb(CH0, 1193 >> 8);
  // 8254 Mode 2: the count loads on the first clock after the write, and OUT pulses low then
  // rises again when the count has run down: the first edge 1 + 1193 clocks after the write.
  const first = pit.nextDeadline();
  assert.equal(first, atTick(1 + 1193));
  clock.ns = atTick(1 + 1193) - 1n;
  pit.update();
  assert.equal(irq.rises, 0);
  clock.ns = atTick(1 + 1193);
  pit.update();
  assert.equal(irq.rises, 1);
  const periodNs = (1193 / 1_193_182) * 1e9; // 999847.6 ns, about 1 ms
  let last = clock.ns;
  for (let i = 0; i < 999; i++) {
    const next = pit.nextDeadline();
    assert.ok(next !== undefined);
    assert.ok(Math.abs(Number(next - last) - periodNs) <= 1, `period ${next - last} ns`);
    clock.ns = last = next;
    pit.update();
  }
  assert.equal(irq.rises, 1000);
  assert.ok(Math.abs(Number(clock.ns) - (1194 + 999 * 1193) * (1e9 / 1_193_182)) < 2);
});

test('IRQ 0 edges missed while the machine was away are raised as one', () => {
  const irq = new EdgeCounter();
  const { pit, clock, outb } = rig(irq);
  outb(TIMER_MODE, 0x34);
  outb(CH0, 1193 & 0xff);
  outb(CH0, 1193 >> 8);
  clock.ns = 10_000_000n;
  pit.update();
  assert.equal(irq.rises, 1);
  assert.ok((pit.nextDeadline() ?? 0n) > clock.ns);
});

test('IRQ 0 reaches the 8259 as vector base + 0', () => {
  const pic = new I8259();
  const { pit, clock, outb } = rig(pic.irq(0));
  const bus = new IoBus();
  bus.addPio(PIC_MASTER, 2, pic);
  for (const v of [0x11, 0x20, 0x04, 0x01]) bus.pioWrite(v === 0x11 ? 0x20 : 0x21, 1, v);
  outb(TIMER_MODE, 0x34);
  outb(CH0, 100);
  outb(CH0, 0);
  assert.equal(pic.hasInterrupt(), false);
  clock.ns = pit.nextDeadline() ?? 0n;
  pit.update();
  assert.equal(pic.hasInterrupt(), true);
  assert.equal(pic.acknowledge(), 0x20);
});

test('the counter latch command holds the count until it is read', () => {
  const { clock, outb, inb } = rig();
  outb(TIMER_MODE, 0x34);
  outb(CH0, 1193 & 0xff);
  outb(CH0, 1193 >> 8);
  clock.ns = atTick(100);
  outb(TIMER_MODE, 0x00); // latch counter 0
  clock.ns = atTick(600);
  outb(TIMER_MODE, 0x00); // ignored: the first latch is unread
  // Loaded with 1193 at clock 1, decremented by each clock after it.
  assert.equal(readCount(inb, CH0), 1193 - 99);
  assert.equal(readCount(inb, CH0), 1193 - 599, 'reads follow the counter again');
  clock.ns = atTick(1 + 1193 + 5);
  assert.equal(readCount(inb, CH0), 1193 - 5, 'reloaded at the end of the period');
});

test('read-back returns status (OUT, null count, programmed mode) before the count', () => {
  const { clock, outb, inb } = rig();
  outb(TIMER_MODE, 0x34);
  outb(TIMER_MODE, 0xe2); // read-back: status only, counter 0
  assert.equal(inb(CH0), 0x80 | 0x40 | 0x34, 'mode 2: OUT high; no count yet');
  outb(CH0, 0x00);
  outb(CH0, 0x10);
  outb(TIMER_MODE, 0xe2);
  assert.equal(inb(CH0), 0xf4, 'count written, not loaded until the next clock');
  clock.ns = atTick(1);
  outb(TIMER_MODE, 0xc2); // count and status
  outb(TIMER_MODE, 0xe2); // status already latched: ignored
  assert.equal(inb(CH0), 0xb4);
  assert.equal(readCount(inb, CH0), 0x1000);
  outb(TIMER_MODE, 0xb0); // counter 2, mode 0
  outb(TIMER_MODE, 0xe8);
  assert.equal(inb(CH2), 0x40 | 0x30, 'mode 0: OUT low after the control word');
});

test('port 0x61 bit 5 shows OUT2 of a mode 0 one-shot, as pit_calibrate_tsc polls it', () => {
  const { clock, outb, inb } = rig();
  outb(NMISC_PORT, (inb(NMISC_PORT) & ~0x02) | 0x01); // GATE2 high, speaker off
  outb(TIMER_MODE, 0xb0); // counter 2, LSB then MSB, mode 0
  const latch = Math.floor(1_193_182 / 100); // 10 ms
  outb(CH2, latch & 0xff);
  outb(CH2, latch >> 8);
  assert.equal(inb(NMISC_PORT) & 0x20, 0);
  // 8254 Mode 0: OUT goes high N + 1 clocks after the count is written.
  clock.ns = atTick(latch);
  assert.equal(inb(NMISC_PORT) & 0x20, 0);
  clock.ns = atTick(latch + 1);
  assert.equal(inb(NMISC_PORT) & 0x20, 0x20);
  clock.ns = atTick(3 * latch);
  assert.equal(inb(NMISC_PORT) & 0x23, 0x21, 'OUT stays high; bits 0-1 read back');
});

test('GATE2 low pauses a mode 0 count; high resumes it', () => {
  const { clock, outb, inb } = rig();
  outb(NMISC_PORT, 0x01);
  outb(TIMER_MODE, 0xb0);
  outb(CH2, 0xe8);
  outb(CH2, 0x03); // 1000
  clock.ns = atTick(101);
  outb(NMISC_PORT, 0x00);
  clock.ns = atTick(5000);
  assert.equal(readCount(inb, CH2), 900);
  assert.equal(inb(NMISC_PORT) & 0x20, 0);
  outb(NMISC_PORT, 0x01);
  clock.ns = atTick(5000 + 899);
  assert.equal(inb(NMISC_PORT) & 0x20, 0);
  clock.ns = atTick(5000 + 900);
  assert.equal(inb(NMISC_PORT) & 0x20, 0x20);
});

test('port 0x61 bit 4 toggles every refresh period (18 PIT clocks, 15.085 µs)', () => {
  const { clock, inb } = rig();
  const at = (k: number): number => {
    clock.ns = atTick(k);
    return inb(NMISC_PORT) & 0x10;
  };
  assert.equal(at(17), 0);
  assert.equal(at(18), 0x10);
  assert.equal(at(35), 0x10);
  assert.equal(at(36), 0);
});

test('mode 0 on counter 0 raises IRQ 0 once, N + 1 clocks after the count is written', () => {
  const irq = new EdgeCounter();
  const { pit, clock, outb } = rig(irq);
  outb(TIMER_MODE, 0x30);
  outb(CH0, 50);
  outb(CH0, 0);
  assert.equal(irq.level, false);
  assert.equal(pit.nextDeadline(), atTick(51));
  clock.ns = atTick(50);
  pit.update();
  assert.equal(irq.rises, 0);
  clock.ns = atTick(51);
  pit.update();
  assert.equal(irq.rises, 1);
  assert.equal(pit.nextDeadline(), undefined);
  clock.ns = atTick(200_000);
  pit.update();
  assert.equal(irq.rises, 1);
});

test('mode 4 (Linux one-shot) strobes OUT low N + 1 clocks after the write; the edge follows', () => {
  const irq = new EdgeCounter();
  const { pit, clock, outb } = rig(irq);
  outb(TIMER_MODE, 0x38);
  outb(CH0, 20);
  outb(CH0, 0);
  assert.equal(pit.out(0), true);
  clock.ns = atTick(21);
  assert.equal(pit.out(0), false);
  assert.equal(irq.rises, 0);
  clock.ns = atTick(22);
  pit.update();
  assert.equal(irq.rises, 1);
  assert.equal(pit.nextDeadline(), undefined);
  outb(CH0, 10); // a new count retriggers
  outb(CH0, 0);
  assert.equal(pit.nextDeadline(), atTick(22 + 12));
});

test('mode 3 square wave: OUT2 high for half the period, low for the other half', () => {
  const { clock, outb, inb } = rig();
  outb(NMISC_PORT, 0x01);
  outb(TIMER_MODE, 0xb6); // counter 2, LSB then MSB, mode 3
  outb(CH2, 1000 & 0xff);
  outb(CH2, 1000 >> 8);
  const out2 = (k: number): number => {
    clock.ns = atTick(k);
    return (inb(NMISC_PORT) >> 5) & 1;
  };
  assert.deepEqual([out2(1), out2(500), out2(501), out2(1000), out2(1001)], [1, 1, 0, 0, 1]);
  outb(TIMER_MODE, 0xb6);
  outb(CH2, 5);
  outb(CH2, 0);
  // 8254 Mode 3: an odd count N is high for (N + 1) / 2 clocks and low for (N - 1) / 2.
  const base = 1001 + 1;
  const wave = [0, 1, 2, 3, 4, 5].map((k) => out2(base + k));
  assert.deepEqual(wave, [1, 1, 1, 0, 0, 1]);
});

test('LSB-only and MSB-only counts', () => {
  const { clock, outb, inb } = rig();
  outb(TIMER_MODE, 0x10); // counter 0, LSB only, mode 0
  outb(CH0, 0x20);
  clock.ns = atTick(1);
  assert.equal(inb(CH0), 0x20);
  assert.equal(inb(CH0), 0x20, 'every read is the LSB');
  outb(TIMER_MODE, 0x24); // counter 0, MSB only, mode 2
  outb(CH0, 0x02); // 512
  clock.ns = atTick(2);
  assert.equal(inb(CH0), 0x02);
  clock.ns = atTick(3);
  assert.equal(inb(CH0), 0x01, '511');
});

test('BCD counting reads back decimal digits', () => {
  const { clock, outb, inb } = rig();
  outb(TIMER_MODE, 0x31); // counter 0, LSB then MSB, mode 0, BCD
  outb(CH0, 0x00);
  outb(CH0, 0x10); // 1000
  clock.ns = atTick(11);
  assert.equal(readCount(inb, CH0), 0x0990);
});

test('in mode 0 the first byte of a count stops the counter and sets OUT low', () => {
  const { pit, clock, outb, inb } = rig();
  outb(TIMER_MODE, 0x30);
  outb(CH0, 10);
  outb(CH0, 0);
  clock.ns = atTick(20);
  assert.equal(pit.out(0), true);
  outb(CH0, 0x00);
  assert.equal(pit.out(0), false);
  clock.ns = atTick(30);
  assert.equal(readCount(inb, CH0), 0xfff7, 'held at the count of clock 20 (wrapped past 0)');
});

test('a count written in mode 2 while counting takes effect at the next reload', () => {
  const irq = new EdgeCounter();
  const { pit, clock, outb } = rig(irq);
  outb(TIMER_MODE, 0x34);
  outb(CH0, 100);
  outb(CH0, 0);
  clock.ns = atTick(50);
  outb(CH0, 10);
  outb(CH0, 0);
  assert.equal(pit.nextDeadline(), atTick(101));
  clock.ns = atTick(101);
  pit.update();
  assert.equal(pit.nextDeadline(), atTick(111));
});

test('saveState/loadState carry the counters; foreign states are refused', () => {
  const a = rig();
  a.outb(TIMER_MODE, 0x34);
  a.outb(CH0, 1193 & 0xff);
  a.outb(CH0, 1193 >> 8);
  a.outb(NMISC_PORT, 0x03);
  a.clock.ns = atTick(300);
  a.outb(TIMER_MODE, 0x00);
  const saved = JSON.parse(JSON.stringify(a.pit.saveState())) as DeviceState;
  const b = rig();
  b.clock.ns = atTick(700);
  b.pit.loadState(saved);
  assert.equal(readCount(b.inb, CH0), 1193 - 299, 'the latched count survives');
  assert.equal(readCount(b.inb, CH0), 1193 - 699);
  assert.equal(b.inb(NMISC_PORT) & 0x0f, 0x03);
  assert.equal(b.pit.nextDeadline(), a.pit.nextDeadline());
  assert.equal(b.pit.speakerEnabled, true);
  assert.throws(() => {
    b.pit.loadState({ ...saved, device: 'i8259' });
  }, /pit: cannot load state of i8259 version 1 \(expected i8254 version 1\)/);
  assert.throws(() => {
    b.pit.loadState({ ...saved, counters: [] });
  }, /"counters"/);
});
