import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IoBus } from './bus.js';
import type { VirtualClock, WallClock } from './clock.js';
import { Mc146818, RTC_DATA, RTC_INDEX } from './mc146818.js';
import type { IrqLine } from './types.js';

/** Thursday 2024-02-29 13:45:56 UTC. */
const LEAP_DAY = Date.UTC(2024, 1, 29, 13, 45, 56) / 1000;

/** Wall and virtual time, stepped together by the test. */
class Clocks {
  ns = 0n;
  readonly #wallAtZero: number;
  readonly virtual: VirtualClock = { now: () => this.ns };
  readonly wallClock: WallClock = { now: () => this.#wallAtZero + Number(this.ns) / 1e9 };
  constructor(wall: number) {
    this.#wallAtZero = wall;
  }
  advance(ns: bigint): void {
    this.ns += ns;
  }
}

class LevelSpy implements IrqLine {
  level = false;
  raises = 0;
  raise(): void {
    this.level = true;
    this.raises++;
  }
  lower(): void {
    this.level = false;
  }
  pulse(): void {
    this.raise();
    this.lower();
  }
}

function rig(wall = LEAP_DAY): {
  rtc: Mc146818;
  clocks: Clocks;
  irq: LevelSpy;
  read: (index: number) => number;
  write: (index: number, value: number) => void;
  bus: IoBus;
} {
  const clocks = new Clocks(wall);
  const irq = new LevelSpy();
  const rtc = new Mc146818({ wallClock: clocks.wallClock, clock: clocks.virtual, irq });
  const bus = new IoBus();
  bus.addPio(RTC_INDEX, 2, rtc);
  return {
    rtc,
    clocks,
    irq,
    bus,
    read: (index) => {
      bus.pioWrite(RTC_INDEX, 1, index);
      return bus.pioRead(RTC_DATA, 1);
    },
    write: (index, value) => {
      bus.pioWrite(RTC_INDEX, 1, index);
      bus.pioWrite(RTC_DATA, 1, value);
    },
  };
}

function timeRegs(read: (index: number) => number): number[] {
  return [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(read);
}

test('the time registers show the injected wall clock in BCD, 24-hour, by default', () => {
  const { read } = rig();
  // seconds, minutes, hours, day of week (Sunday = 1), date, month, year, century
  assert.deepEqual(timeRegs(read), [0x56, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20]);
  assert.equal(read(0x0a), 0x26, 'Register A: 32.768 kHz time base, 1024 Hz rate');
  assert.equal(read(0x0b), 0x02, 'Register B: 24-hour, BCD');
  assert.equal(read(0x0d), 0x80, 'Register D: VRT');
});

test('Register B DM = 1 shows binary values', () => {
  const { read, write } = rig();
  write(0x0b, 0x06);
  assert.deepEqual(timeRegs(read), [56, 45, 13, 5, 29, 2, 24, 20]);
});

test('12-hour mode shows 1-12 with bit 7 for PM', () => {
  const day = Date.UTC(2024, 1, 29) / 1000;
  const hours = (seconds: number, b: number): number => {
    const { read, write } = rig(day + seconds);
    write(0x0b, b);
    return read(0x04);
  };
  assert.equal(hours(13 * 3600, 0x00), 0x81);
  assert.equal(hours(30 * 60, 0x00), 0x12, '00:30 is 12 AM');
  assert.equal(hours(12 * 3600, 0x00), 0x92, '12:00 is 12 PM');
  assert.equal(hours(23 * 3600, 0x04), 0x80 | 11, 'binary');
});

test('the clock follows the wall clock', () => {
  const { read, clocks } = rig();
  clocks.advance(5_000_000_000n);
  assert.deepEqual(timeRegs(read).slice(0, 3), [0x01, 0x46, 0x13]);
});

test('with SET the guest writes the time; clearing SET starts it from there', () => {
  const { read, write, clocks } = rig();
  write(0x0b, 0x82);
  write(0x00, 0x58);
  write(0x02, 0x59);
  write(0x04, 0x23);
  write(0x07, 0x31);
  write(0x08, 0x12);
  write(0x09, 0x99);
  write(0x32, 0x19);
  clocks.advance(10_000_000_000n);
  assert.deepEqual(timeRegs(read).slice(0, 3), [0x58, 0x59, 0x23], 'no updates while SET');
  write(0x0b, 0x02);
  clocks.advance(3_000_000_000n);
  // 1999-12-31 23:59:58 plus 3 s: Saturday 2000-01-01 00:00:01.
  assert.deepEqual(timeRegs(read), [0x01, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x20]);
});

test('setting SET clears UIE; Registers C and D cannot be written', () => {
  const { read, write } = rig();
  write(0x0b, 0x92);
  assert.equal(read(0x0b), 0x82);
  write(0x0c, 0xff);
  write(0x0d, 0x00);
  assert.equal(read(0x0c), 0x00);
  assert.equal(read(0x0d), 0x80);
});

test('a periodic interrupt sets PF and IRQF; reading Register C clears them and IRQ 8', () => {
  const { rtc, read, write, clocks, irq } = rig();
  write(0x0b, 0x42); // PIE
  // Rate 6 at 32.768 kHz: every 32 clocks, 976.5625 µs.
  const deadline = rtc.nextDeadline();
  assert.equal(deadline, 976_563n);
  clocks.advance(976_562n);
  rtc.update();
  assert.equal(irq.level, false);
  clocks.advance(1n);
  rtc.update();
  assert.equal(irq.level, true);
  assert.equal(rtc.nextDeadline(), undefined, 'nothing new until Register C is read');
  assert.equal(read(0x0c), 0xc0);
  assert.equal(irq.level, false);
  assert.equal(read(0x0c), 0x00);
});

test('PF is set at the rate even with PIE clear, without IRQF', () => {
  const { rtc, read, clocks, irq } = rig();
  clocks.advance(1_000_000n);
  rtc.update();
  assert.equal(irq.level, false);
  assert.equal(read(0x0c), 0x40);
  assert.equal(rtc.nextDeadline(), undefined, 'no interrupt enabled');
});

test('Register A rate select sets the periodic interrupt rate', () => {
  const periodNs = (a: number): number => {
    const { rtc, write } = rig();
    write(0x0a, a);
    write(0x0b, 0x42);
    return Number(rtc.nextDeadline());
  };
  assert.equal(periodNs(0x2f), 500_000_000, 'RS = 15: 2 Hz');
  assert.equal(periodNs(0x23), 122_071, 'RS = 3: 8192 Hz');
  assert.equal(periodNs(0x21), 3_906_250, 'RS = 1: 256 Hz');
  assert.equal(periodNs(0x2a), 15_625_000, 'RS = 10: 64 Hz');
  const { rtc, write } = rig();
  write(0x0a, 0x20);
  write(0x0b, 0x42);
  assert.equal(rtc.nextDeadline(), undefined, 'RS = 0: none');
  write(0x0a, 0x66);
  assert.equal(rtc.nextDeadline(), undefined, 'divider in reset');
});

test('at 1024 Hz a guest that reads Register C each time sees 1024 interrupts a second', () => {
  const { rtc, read, write, clocks, irq } = rig();
  write(0x0b, 0x42);
  let count = 0;
  for (;;) {
    const next = rtc.nextDeadline();
    if (next === undefined || next > 1_000_000_000n) break;
    clocks.advance(next - clocks.ns);
    rtc.update();
    if (irq.level) {
      count++;
      read(0x0c);
    }
  }
  assert.equal(count, 1024);
});

test('the update-ended interrupt comes at the next second', () => {
  const { rtc, read, write, clocks, irq } = rig(LEAP_DAY + 0.25);
  write(0x0b, 0x12); // UIE
  const deadline = rtc.nextDeadline();
  assert.equal(deadline, 750_000_000n);
  clocks.advance(749_000_000n);
  rtc.update();
  assert.equal(irq.level, false);
  clocks.advance(1_000_000n);
  rtc.update();
  assert.equal(irq.level, true);
  // PF is set too: the 1024 Hz rate runs whether or not PIE is set.
  assert.equal(read(0x0c), 0xd0);
  assert.equal(read(0x00), 0x57);
});

test('the alarm interrupt fires when the time matches, with 0xc0 as "don\'t care"', () => {
  const { rtc, read, write, clocks, irq } = rig(LEAP_DAY + 3.5); // 13:45:59.5
  write(0x01, 0x00);
  write(0x03, 0x46);
  write(0x05, 0xc0);
  write(0x0b, 0x22); // AIE
  clocks.advance(400_000_000n);
  rtc.update();
  assert.equal(irq.level, false);
  clocks.advance(100_000_000n);
  rtc.update();
  assert.equal(irq.level, true);
  assert.equal(read(0x0c), 0xf0, 'IRQF, AF, and PF and UF (not enabled)');
  clocks.advance(1_000_000_000n);
  rtc.update();
  assert.equal(irq.level, false, '13:46:01 does not match');
});

test('UIP is set only in the 244 µs before the update', () => {
  const { read } = rig(LEAP_DAY + 0.9998);
  assert.equal(read(0x0a) & 0x80, 0x80);
  const later = rig(LEAP_DAY + 0.9);
  assert.equal(later.read(0x0a) & 0x80, 0);
});

test('index bit 7 masks NMI; bytes 0x0e-0x7f are RAM; the index port reads all ones', () => {
  const { rtc, read, write, bus } = rig();
  for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) write(i, i ^ 0x5a);
  for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) assert.equal(read(i), i ^ 0x5a);
  bus.pioWrite(RTC_INDEX, 1, 0x80 | 0x20);
  assert.equal(rtc.nmiDisabled, true);
  assert.equal(bus.pioRead(RTC_DATA, 1), 0x20 ^ 0x5a);
  bus.pioWrite(RTC_INDEX, 1, 0x20);
  assert.equal(rtc.nmiDisabled, false);
  assert.equal(bus.pioRead(RTC_INDEX, 1), 0xff);
});

test('setMemorySize writes the firmware memory-size bytes', () => {
  const { rtc, read } = rig();
  rtc.setMemorySize(512 * 1024 * 1024);
  const word = (i: number): number => read(i) | (read(i + 1) << 8);
  assert.equal(word(0x15), 640, 'base memory, KiB');
  assert.equal(word(0x17), 0xffff, 'extended memory, KiB, capped');
  assert.equal(word(0x30), 0xffff);
  assert.equal(word(0x34), (512 - 16) * 16, 'above 16 MiB in 64 KiB units');
  assert.deepEqual([0x5b, 0x5c, 0x5d].map(read), [0, 0, 0]);
  rtc.setMemorySize(6 * 1024 ** 3, 3 * 1024 ** 3);
  assert.equal(word(0x34), (3 * 1024 - 16) * 16);
  assert.deepEqual([0x5b, 0x5c, 0x5d].map(read), [0x00, 0xc0, 0x00], '3 GiB above 4 GiB');
  rtc.setMemorySize(15 * 1024 * 1024);
  assert.equal(word(0x17), 14 * 1024);
  assert.equal(word(0x34), 0);
});

test('saveState/loadState carry RAM, the guest time and flags; foreign states are refused', () => {
  const a = rig();
  a.write(0x0b, 0x82);
  a.write(0x09, 0x30);
  a.write(0x0b, 0x42);
  a.write(0x40, 0x77);
  a.clocks.advance(2_000_000n);
  a.rtc.update();
  const saved = structuredClone(a.rtc.saveState());
  const b = rig();
  b.clocks.ns = a.clocks.ns;
  b.rtc.loadState(saved);
  assert.equal(b.read(0x09), 0x30);
  assert.equal(b.read(0x40), 0x77);
  assert.equal(b.read(0x0c), 0xc0);
  assert.throws(() => {
    b.rtc.loadState({ ...saved, version: 7 });
  }, /rtc: cannot load state of mc146818 version 7 \(expected mc146818 version 1\)/);
  assert.throws(() => {
    b.rtc.loadState({ ...saved, cmos: [1, 2, 3] });
  }, /"cmos" must hold 128 bytes/);
  const cmos = saved.cmos as Uint8Array;
  b.rtc.loadState({ ...saved, cmos: Array.from(cmos) }); // as after a JSON round trip
  assert.equal(b.read(0x40), 0x77);
});
