import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { PioSize } from '../engine/types.js';
import { IoBus } from './bus.js';
import {
  PCI_BAR_IO,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_CONFIG_ADDRESS,
  PCI_CONFIG_DATA,
  PCI_IO_WINDOW_BASE,
  PCI_STATUS_INTERRUPT,
  PciConfigSpace,
  PciHost,
} from './pci_host.js';
import type { IrqLine } from './types.js';

/** Configuration address of bus 0, `device`, `func`, register `reg`, enable bit set. */
function cfg(device: number, func: number, reg: number): number {
  return (0x80000000 | (device << 11) | (func << 8) | reg) >>> 0;
}

function rig(): {
  host: PciHost;
  out: (port: number, size: PioSize, value: number) => void;
  inp: (port: number, size: PioSize) => number;
} {
  const host = new PciHost();
  const bus = new IoBus();
  bus.addPio(PCI_CONFIG_ADDRESS, 8, host);
  return {
    host,
    out: (port, size, value) => {
      bus.pioWrite(port, size, value);
    },
    inp: (port, size) => bus.pioRead(port, size),
  };
}

test("reading 0x80000000 gives vmd's host bridge: 0b5d:0666", () => {
  const { out, inp } = rig();
  out(PCI_CONFIG_ADDRESS, 4, 0x80000000);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0x06660b5d);
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x08));
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0x06000000, 'class 06 00 00 (host bridge), revision 0');
  // Linux's pci_sanity_check reads the class as a word at offset 0x0a.
  assert.equal(inp(PCI_CONFIG_DATA + 2, 2), 0x0600);
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x0c));
  assert.equal(inp(PCI_CONFIG_DATA + 2, 1), 0x00, 'header type 0, single function');
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x2c));
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0x00000b5d, 'subsystem vendor OpenBSD');
});

test("CONFIG_ADDRESS reads back as written, as Linux's pci_check_type1 requires", () => {
  const { out, inp } = rig();
  out(PCI_CONFIG_ADDRESS + 3, 1, 0x01); // the byte probe of mechanism #2 does not reach it
  out(PCI_CONFIG_ADDRESS, 4, 0x80000000);
  assert.equal(inp(PCI_CONFIG_ADDRESS, 4), 0x80000000);
  out(PCI_CONFIG_ADDRESS, 4, 0xffffffff);
  assert.equal(inp(PCI_CONFIG_ADDRESS, 4), 0x80fffffc, 'reserved bits read 0');
  out(PCI_CONFIG_ADDRESS, 2, 0x1234);
  assert.equal(inp(PCI_CONFIG_ADDRESS, 4), 0x80fffffc, 'a word write is not CONFIG_ADDRESS');
  assert.equal(inp(PCI_CONFIG_ADDRESS, 1), 0xff);
});

test('absent devices, other buses and disabled cycles read all ones', () => {
  const { out, inp } = rig();
  for (const address of [cfg(1, 0, 0), cfg(31, 7, 0), cfg(0, 1, 0), cfg(0, 0, 0) | (1 << 16)]) {
    out(PCI_CONFIG_ADDRESS, 4, address);
    assert.equal(inp(PCI_CONFIG_DATA, 4), 0xffffffff);
    assert.equal(inp(PCI_CONFIG_DATA + 2, 2), 0xffff);
    assert.equal(inp(PCI_CONFIG_DATA + 3, 1), 0xff);
  }
  out(PCI_CONFIG_ADDRESS, 4, 0x00000000);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0xffffffff, 'enable bit clear');
});

test('byte and word accesses pick the lanes at their offset within the dword', () => {
  const { out, inp } = rig();
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0));
  assert.equal(inp(PCI_CONFIG_DATA, 2), 0x0b5d);
  assert.equal(inp(PCI_CONFIG_DATA + 2, 2), 0x0666);
  assert.equal(inp(PCI_CONFIG_DATA + 1, 1), 0x0b);
  assert.equal(inp(PCI_CONFIG_DATA + 3, 1), 0x06);
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x04));
  assert.equal(inp(PCI_CONFIG_DATA, 2), 0x0006, 'command: memory and bus master');
  assert.equal(inp(PCI_CONFIG_DATA + 2, 2), 0x0000, 'status');
});

test('identity is read only; command takes its writable bits; status bits clear by writing 1', () => {
  const { host, out, inp } = rig();
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0));
  out(PCI_CONFIG_DATA, 4, 0);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0x06660b5d);
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x04));
  out(PCI_CONFIG_DATA, 2, 0xffff);
  assert.equal(inp(PCI_CONFIG_DATA, 2), 0x0547);
  out(PCI_CONFIG_DATA + 2, 2, 0xffff);
  assert.equal(inp(PCI_CONFIG_DATA + 2, 2), 0x0000, 'no error bits were set');
  out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x58));
  out(PCI_CONFIG_DATA + 1, 1, 0x33);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0, 'device-specific bytes of the bridge are read only');
  assert.equal(host.bridge.configRead(0x3c), 0, 'no interrupt pin');
});

test('an attached function answers, with BARs that follow the sizing protocol', () => {
  const { host, out, inp } = rig();
  const fn = new PciConfigSpace('test-device', {
    vendorId: 0x1af4,
    deviceId: 0x1001,
    revision: 0,
    classCode: 0x010000,
    interruptPin: 1,
    status: 0x0010,
    bars: [
      { kind: 'io', size: 0x40 },
      { kind: 'memory32', size: 0x1000 },
      { kind: 'memory64', size: 0x4000, prefetchable: true },
    ],
  });
  host.attach(3, 0, fn);
  assert.equal(host.functionAt(3, 0), fn);
  assert.throws(() => {
    host.attach(3, 0, fn);
  }, RangeError);
  const bar = (i: number): number => {
    out(PCI_CONFIG_ADDRESS, 4, cfg(3, 0, 0x10 + 4 * i));
    return inp(PCI_CONFIG_DATA, 4);
  };
  const writeBar = (i: number, v: number): void => {
    out(PCI_CONFIG_ADDRESS, 4, cfg(3, 0, 0x10 + 4 * i));
    out(PCI_CONFIG_DATA, 4, v);
  };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(bar), [0x1, 0x0, 0xc, 0x0, 0x0, 0x0]);
  for (let i = 0; i < 6; i++) writeBar(i, 0xffffffff);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map(bar),
    [0xffffffc1, 0xfffff000, 0xffffc00c, 0xffffffff, 0, 0],
    'each BAR reads back the complement of its size',
  );
  writeBar(0, 0xc040);
  writeBar(1, 0xfebf1000);
  writeBar(2, 0x00004000);
  writeBar(3, 0x1);
  assert.equal(fn.barAddress(0), 0xc040);
  assert.equal(fn.barAddress(1), 0xfebf1000);
  assert.equal(fn.barAddress(2), 0x1_0000_4000);
  assert.equal(fn.barAddress(4), undefined);
  out(PCI_CONFIG_ADDRESS, 4, cfg(3, 0, 0x3c));
  out(PCI_CONFIG_DATA, 1, 11);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0x0000010b, 'interrupt line written, pin INTA#');
  out(PCI_CONFIG_ADDRESS, 4, cfg(3, 0, 0x40));
  out(PCI_CONFIG_DATA, 4, 0x12345678);
  assert.equal(inp(PCI_CONFIG_DATA, 4), 0, 'device-specific bytes are read only by default');
});

test('saveState/loadState carry CONFIG_ADDRESS and the bridge; foreign states are refused', () => {
  const a = rig();
  a.out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x04));
  a.out(PCI_CONFIG_DATA, 2, 0x0107);
  a.out(PCI_CONFIG_ADDRESS, 4, cfg(0, 0, 0x04));
  const saved = structuredClone(a.host.saveState());
  const b = rig();
  b.host.loadState(saved);
  assert.equal(b.inp(PCI_CONFIG_ADDRESS, 4), cfg(0, 0, 0x04));
  assert.equal(b.inp(PCI_CONFIG_DATA, 2), 0x0107, 'the bridge command register came along');
  assert.throws(() => {
    b.host.loadState({ ...saved, version: 3 });
  }, /pci: cannot load state of pci-host version 3 \(expected pci-host version 1\)/);
  const other = new PciConfigSpace('other', {
    vendorId: 1,
    deviceId: 2,
    revision: 0,
    classCode: 0,
  });
  assert.throws(() => {
    b.host.loadState({ ...saved, bridge: other.saveState() });
  }, /another function/);
});

/** A function with a 64-port I/O BAR whose registers echo what was written. */
function echoFunction(irq?: IrqLine): { fn: PciConfigSpace; log: string[] } {
  const regs = new Uint8Array(64);
  const log: string[] = [];
  const fn = new PciConfigSpace(
    'echo',
    {
      vendorId: 0x1af4,
      deviceId: 0x1005,
      revision: 0,
      classCode: 0,
      interruptPin: 1,
      bars: [{ kind: 'io', size: 64 }, undefined, { kind: 'io', size: 16 }],
    },
    {
      ...(irq === undefined ? {} : { irq }),
      ioRead: (bar, offset, size) => {
        log.push(`r${bar}:${offset}/${size}`);
        return regs[offset] ?? 0;
      },
      ioWrite: (bar, offset, size, value) => {
        log.push(`w${bar}:${offset}/${size}=${value}`);
        regs[offset] = value & 0xff;
      },
    },
  );
  return { fn, log };
}

test('firmware places I/O BARs upward from 0x1000, aligned, and enables I/O decoding', () => {
  const host = new PciHost();
  const a = echoFunction();
  const b = echoFunction();
  host.attach(1, 0, a.fn);
  host.attach(2, 0, b.fn);
  assert.deepEqual(host.assignIoBars(a.fn), [PCI_IO_WINDOW_BASE, PCI_IO_WINDOW_BASE + 64]);
  assert.deepEqual(host.assignIoBars(b.fn), [PCI_IO_WINDOW_BASE + 128, PCI_IO_WINDOW_BASE + 192]);
  assert.equal(a.fn.configRead(0x10), PCI_IO_WINDOW_BASE | PCI_BAR_IO);
  assert.equal(a.fn.configRead(0x04) & PCI_COMMAND_IO, PCI_COMMAND_IO);
  assert.deepEqual(b.fn.ioRanges(), [
    { bar: 0, base: 0x1080, size: 64 },
    { bar: 2, base: 0x10c0, size: 16 },
  ]);
});

test('the I/O window routes accesses to the decoding BAR, offset from its base', () => {
  const host = new PciHost();
  const bus = new IoBus();
  bus.addPio(PCI_CONFIG_ADDRESS, 8, host);
  host.connectIo(bus);
  const { fn, log } = echoFunction();
  host.attach(1, 0, fn);
  host.assignIoBars(fn);
  bus.pioWrite(0x1005, 1, 0x5a);
  assert.equal(bus.pioRead(0x1005, 1), 0x5a);
  bus.pioWrite(0x1042, 2, 7);
  assert.deepEqual(log, ['w0:5/1=90', 'r0:5/1', 'w2:2/2=7']);
  assert.equal(bus.pioRead(0x2000, 4), 0xffffffff, 'no function decodes 0x2000');
  assert.equal(bus.unclaimed.pioReads, 1, 'and the bus counts it as unclaimed');
  bus.pioWrite(PCI_CONFIG_ADDRESS, 4, cfg(1, 0, 0x04));
  bus.pioWrite(PCI_CONFIG_DATA, 2, 0);
  assert.equal(bus.pioRead(0x1005, 1), 0xff, 'I/O space disabled');
  assert.equal(log.length, 3, 'the function saw nothing');
  assert.equal(bus.unclaimed.pioReads, 2, 'the ports are free again');
  bus.pioWrite(PCI_CONFIG_ADDRESS, 4, cfg(1, 0, 0x10));
  bus.pioWrite(PCI_CONFIG_DATA, 4, 0x3000);
  bus.pioWrite(PCI_CONFIG_ADDRESS, 4, cfg(1, 0, 0x04));
  bus.pioWrite(PCI_CONFIG_DATA, 2, PCI_COMMAND_IO);
  assert.equal(bus.pioRead(0x3005, 1), 0x5a, 'BAR 0 moved to 0x3000 with I/O on again');
  assert.equal(bus.pioRead(0x1005, 1), 0xff, 'its old ports are unclaimed');
  assert.equal(bus.pioRead(0x1042, 1), 7, 'BAR 2 stayed');
});

test('INTx# follows setIntx(), shows in status bit 3, and is gated by interrupt disable', () => {
  const levels: boolean[] = [];
  const irq: IrqLine = {
    raise: () => levels.push(true),
    lower: () => levels.push(false),
    pulse: () => levels.push(true, false),
  };
  const { fn } = echoFunction(irq);
  fn.setIntx(true);
  assert.deepEqual(levels, [true]);
  assert.equal((fn.configRead(0x04) >>> 16) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
  fn.configWrite(0x04, PCI_COMMAND_INTX_DISABLE, 0x3);
  assert.deepEqual(levels, [true, false], 'interrupt disable lowers the line');
  fn.configWrite(0x06, 0xffff0000, 0xc);
  assert.equal(
    (fn.configRead(0x04) >>> 16) & PCI_STATUS_INTERRUPT,
    PCI_STATUS_INTERRUPT,
    'read only',
  );
  fn.setIntx(false);
  fn.configWrite(0x04, 0, 0x3);
  assert.deepEqual(levels, [true, false], 'nothing to raise once the function let go');
  fn.setIntx(true);
  assert.deepEqual(levels, [true, false, true]);
});
