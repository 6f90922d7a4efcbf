import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { initLog, setVerbosity } from '../common/log.js';
import type { MmioSize, PioSize } from '../engine/types.js';
import { formatBusMap, IoBus, LOG_FIRST_UNCLAIMED } from './bus.js';
import type { DeviceState, MmioDevice, PioDevice } from './types.js';

type Access = [op: 'r' | 'w', where: number, size: number, value?: number];

class FakePio implements PioDevice {
  readonly accesses: Access[] = [];
  constructor(
    readonly name: string,
    readonly readValue = 0x5a,
  ) {}
  pioRead(port: number, size: PioSize): number {
    this.accesses.push(['r', port, size]);
    return this.readValue;
  }
  pioWrite(port: number, size: PioSize, value: number): void {
    this.accesses.push(['w', port, size, value]);
  }
  saveState(): DeviceState {
    return { device: 'fake', version: 1 };
  }
  loadState(): void {
    /* stateless */
  }
}

class FakeMmio implements MmioDevice {
  readonly accesses: Access[] = [];
  constructor(readonly name: string) {}
  mmioRead(offset: number, size: MmioSize): number {
    this.accesses.push(['r', offset, size]);
    return 0x1234;
  }
  mmioWrite(offset: number, size: MmioSize, value: number): void {
    this.accesses.push(['w', offset, size, value]);
  }
  saveState(): DeviceState {
    return { device: 'fake', version: 1 };
  }
  loadState(): void {
    /* stateless */
  }
}

function captureDebugLog(): string[] {
  const lines: string[] = [];
  initLog('vm/test', { journal: false, sink: (line) => lines.push(line) });
  setVerbosity(2);
  return lines;
}

afterEach(() => {
  setVerbosity(0);
  initLog('vmd', { journal: false, sink: () => undefined });
});

test('IoBus.pioRead() dispatches to the claiming device with the absolute port', () => {
  const bus = new IoBus();
  const com1 = new FakePio('com1', 0x60);
  bus.addPio(0x3f8, 8, com1);
  assert.equal(bus.pioRead(0x3fd, 1), 0x60, 'expected the device value');
  bus.pioWrite(0x3f8, 1, 0x41);
  assert.deepEqual(com1.accesses, [
    ['r', 0x3fd, 1],
    ['w', 0x3f8, 1, 0x41],
  ]);
});

test('IoBus routes both ranges of a device registered twice', () => {
  const bus = new IoBus();
  const pic = new FakePio('pic');
  bus.addPio(0x20, 2, pic);
  bus.addPio(0xa0, 2, pic);
  bus.pioWrite(0x21, 1, 1);
  bus.pioWrite(0xa1, 1, 2);
  assert.deepEqual(pic.accesses, [
    ['w', 0x21, 1, 1],
    ['w', 0xa1, 1, 2],
  ]);
});

test('IoBus.pioRead() of an unclaimed port returns all ones for each size', () => {
  const bus = new IoBus();
  bus.addPio(0x3f8, 8, new FakePio('com1'));
  assert.equal(bus.pioRead(0x3f7, 1), 0xff);
  assert.equal(bus.pioRead(0x400, 2), 0xffff);
  assert.equal(bus.pioRead(0xffff, 4), 0xffffffff);
});

test('IoBus counts unclaimed reads and writes by kind', () => {
  const bus = new IoBus();
  bus.pioRead(0x80, 1);
  bus.pioWrite(0x80, 1, 0);
  bus.pioWrite(0x81, 1, 0);
  bus.mmioRead(0xfee00000, 4);
  assert.deepEqual(bus.unclaimed, { pioReads: 1, pioWrites: 2, mmioReads: 1, mmioWrites: 0 });
  bus.mmioWrite(0xfee00000, 4, 1);
  assert.equal(bus.unclaimed.mmioWrites, 1, 'expected the MMIO write counted');
});

test('IoBus.addPio() rejects an overlap, naming both devices', () => {
  const bus = new IoBus();
  bus.addPio(0x3f8, 8, new FakePio('com1'));
  assert.throws(
    () => {
      bus.addPio(0x3fc, 2, new FakePio('rogue'));
    },
    { message: 'pio ports 0x03fc-0x03fd of "rogue" overlap ports 0x03f8-0x03ff of "com1"' },
  );
  // The failed registration must not have claimed anything.
  assert.equal(bus.describe().length, 1, 'expected only com1 in the map');
});

test('IoBus.addPio() rejects ranges outside the port space', () => {
  const bus = new IoBus();
  const dev = new FakePio('big');
  assert.throws(() => {
    bus.addPio(0xfffe, 4, dev);
  }, RangeError);
  assert.throws(() => {
    bus.addPio(-1, 1, dev);
  }, RangeError);
  assert.throws(() => {
    bus.addPio(0x10, 0, dev);
  }, RangeError);
});

test('IoBus.mmioRead() passes the offset from the range base', () => {
  const bus = new IoBus();
  const hpet = new FakeMmio('hpet');
  const ioapic = new FakeMmio('ioapic');
  bus.addMmio(0xfed00000, 0x400, hpet);
  bus.addMmio(0xfec00000, 0x1000, ioapic);
  assert.equal(bus.mmioRead(0xfec00010, 4), 0x1234);
  bus.mmioWrite(0xfed003ff, 1, 7);
  bus.mmioWrite(0xfed00000, 2, 8);
  assert.deepEqual(ioapic.accesses, [['r', 0x10, 4]]);
  assert.deepEqual(hpet.accesses, [
    ['w', 0x3ff, 1, 7],
    ['w', 0, 2, 8],
  ]);
});

test('IoBus finds every MMIO range among many and misses the gaps', () => {
  const bus = new IoBus();
  const devs: FakeMmio[] = [];
  // Registered out of order so the sorted insert is exercised.
  for (const i of [5, 1, 7, 0, 3, 6, 2, 4]) {
    const dev = new FakeMmio(`dev${i}`);
    devs[i] = dev;
    bus.addMmio(0x10000000 + i * 0x2000, 0x1000, dev);
  }
  for (let i = 0; i < 8; i++) {
    bus.mmioRead(0x10000000 + i * 0x2000, 1);
    bus.mmioRead(0x10000000 + i * 0x2000 + 0xfff, 1);
    assert.equal(bus.mmioRead(0x10000000 + i * 0x2000 + 0x1000, 1), 0xff, `gap after dev${i}`);
  }
  devs.forEach((dev, i) => {
    assert.deepEqual(
      dev.accesses,
      [
        ['r', 0, 1],
        ['r', 0xfff, 1],
      ],
      `expected the first and last byte of dev${i}`,
    );
  });
  assert.equal(bus.unclaimed.mmioReads, 8, 'expected the 8 gap reads unclaimed');
});

test('IoBus.addMmio() rejects an overlap on either side, naming both devices', () => {
  const bus = new IoBus();
  bus.addMmio(0x2000, 0x1000, new FakeMmio('a'));
  bus.addMmio(0x5000, 0x1000, new FakeMmio('b'));
  assert.throws(() => {
    bus.addMmio(0x2fff, 2, new FakeMmio('c'));
  }, /"c" overlaps 0x00002000-0x00002fff of "a"/);
  assert.throws(() => {
    bus.addMmio(0x4000, 0x1001, new FakeMmio('d'));
  }, /"d" overlaps 0x00005000-0x00005fff of "b"/);
  assert.throws(() => {
    bus.addMmio(0x1000, 0x8000, new FakeMmio('e'));
  }, /"e" overlaps/);
  bus.addMmio(0x3000, 0x2000, new FakeMmio('f'));
  assert.equal(bus.describe().length, 3, 'expected a, f and b; an exact fit is no overlap');
});

test('IoBus.describe() lists ports then MMIO, each in address order', () => {
  const bus = new IoBus();
  bus.addPio(0x3f8, 8, new FakePio('com1'));
  bus.addPio(0x20, 2, new FakePio('pic'));
  bus.addMmio(0xfec00000, 0x1000, new FakeMmio('ioapic'));
  const map = bus.describe();
  assert.deepEqual(map, [
    { space: 'pio', first: 0x20, last: 0x21, device: 'pic' },
    { space: 'pio', first: 0x3f8, last: 0x3ff, device: 'com1' },
    { space: 'mmio', first: 0xfec00000, last: 0xfec00fff, device: 'ioapic' },
  ]);
  assert.equal(
    formatBusMap(map),
    ['pio  0x0020-0x0021 pic', 'pio  0x03f8-0x03ff com1', 'mmio 0xfec00000-0xfec00fff ioapic'].join(
      '\n',
    ),
  );
});

test('IoBus logs unclaimed port accesses at debug level with port, size and value', () => {
  const lines = captureDebugLog();
  const bus = new IoBus();
  bus.pioWrite(0x80, 1, 0x1ab);
  bus.pioRead(0x2f8, 2);
  assert.deepEqual(lines, [
    'vm/test: unclaimed out port 0x0080 size 1 value 0xab',
    'vm/test: unclaimed in port 0x02f8 size 2 value 0xffff',
  ]);
});

test('IoBus rate-limits unclaimed port logging to the first few, then powers of two', () => {
  const lines = captureDebugLog();
  const bus = new IoBus();
  for (let i = 0; i < 1000; i++) bus.pioWrite(0x80, 1, i & 0xff);
  const summaries = lines.filter((l) => l.includes('so far'));
  // LOG_FIRST_UNCLAIMED single lines, then 8, 16, ..., 512.
  assert.equal(lines.length - summaries.length, LOG_FIRST_UNCLAIMED, 'single lines');
  assert.deepEqual(
    summaries.map((l) => /: (\d+) so far/.exec(l)?.[1]),
    ['8', '16', '32', '64', '128', '256', '512'],
  );
  assert.equal(bus.unclaimed.pioWrites, 1000, 'expected every write counted');
  // Another port has its own budget.
  bus.pioWrite(0x81, 1, 0);
  assert.match(lines.at(-1) ?? '', /port 0x0081/);
});

test('IoBus rate-limits unclaimed MMIO logging across all addresses', () => {
  const lines = captureDebugLog();
  const bus = new IoBus();
  for (let i = 0; i < 4096; i++) bus.mmioRead(0xe0000000 + i * 4, 4);
  assert.ok(lines.length < 40, `expected a bounded log, got ${lines.length} lines`);
  assert.match(lines[0] ?? '', /unclaimed MMIO read 0xe0000000 size 4 value 0xffffffff/);
});

test('IoBus does not log unclaimed accesses below debug verbosity', () => {
  const lines: string[] = [];
  initLog('vm/test', { journal: false, sink: (line) => lines.push(line) });
  setVerbosity(1);
  const bus = new IoBus();
  bus.pioRead(0x80, 1);
  bus.mmioWrite(0, 4, 0);
  assert.deepEqual(lines, [], 'expected silence at verbosity 1');
});
