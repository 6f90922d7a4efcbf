import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DLL,
  DLM,
  FCR,
  FCR_FE,
  FCR_RFR,
  FCR_TRIGGER_14,
  FCR_TRIGGER_4,
  FCR_TRIGGER_8,
  FIFO_SIZE,
  IER,
  IER_EDSSI,
  IER_ELSI,
  IER_ERBFI,
  IER_ETBEI,
  IIR,
  IIR_CTI,
  IIR_FIFO_ENABLED,
  IIR_MSI,
  IIR_NO_INT,
  IIR_RDI,
  IIR_RLSI,
  IIR_THRI,
  LCR,
  LCR_DLAB,
  LSR,
  LSR_DR,
  LSR_OE,
  LSR_TEMT,
  LSR_THRE,
  MCR,
  MCR_DTR,
  MCR_LOOP,
  MCR_OUT1,
  MCR_OUT2,
  MCR_RTS,
  MSR,
  MSR_CTS,
  MSR_DCD,
  MSR_DCTS,
  MSR_DDCD,
  MSR_DSR,
  MSR_RI,
  MSR_TERI,
  Ns8250,
  RBR,
  SCR,
  THR,
} from './ns8250.js';
import { IoBus } from './bus.js';
import type { DeviceState } from './types.js';

const COM1 = 0x3f8;

/** An IRQ line that records its edges. */
class IrqSpy {
  events: ('raise' | 'lower' | 'pulse')[] = [];
  level = false;
  raise(): void {
    this.events.push('raise');
    this.level = true;
  }
  lower(): void {
    this.events.push('lower');
    this.level = false;
  }
  pulse(): void {
    this.events.push('pulse');
  }
}

function setup(): { uart: Ns8250; irq: IrqSpy; sent: number[]; writes: Uint8Array[] } {
  const irq = new IrqSpy();
  const sent: number[] = [];
  const writes: Uint8Array[] = [];
  const backend = {
    write(data: Uint8Array): void {
      writes.push(data);
      sent.push(...data);
    },
  };
  return { uart: new Ns8250({ name: 'com1', irq, backend }), irq, sent, writes };
}

function out(uart: Ns8250, reg: number, value: number): void {
  uart.pioWrite(COM1 + reg, 1, value);
}

function inb(uart: Ns8250, reg: number): number {
  return uart.pioRead(COM1 + reg);
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

test('Ns8250 sends THR writes to the back-end on flush()', () => {
  const { uart, sent } = setup();
  for (const c of 'hi\n') out(uart, THR, c.charCodeAt(0));
  assert.deepEqual(sent, [], 'expected output held until flush()');
  uart.flush();
  assert.equal(String.fromCharCode(...sent), 'hi\n');
  uart.flush();
  assert.equal(sent.length, 3, 'expected a second flush to send nothing more');
});

test('Ns8250 flushes by itself when its transmit buffer fills, handing over copies', () => {
  const { uart, sent, writes } = setup();
  for (let i = 0; i < 300; i++) out(uart, THR, i & 0xff);
  assert.equal(sent.length, 256, 'expected one full buffer sent without flush()');
  uart.flush();
  assert.equal(sent.length, 300);
  assert.deepEqual(sent.slice(250, 260), [250, 251, 252, 253, 254, 255, 0, 1, 2, 3]);
  assert.notEqual(writes[0]?.buffer, writes[1]?.buffer, 'expected each write its own buffer');
});

test('Ns8250 keeps LSR_THRE and LSR_TEMT set while transmitting', () => {
  const { uart } = setup();
  assert.equal(inb(uart, LSR), LSR_THRE | LSR_TEMT, 'expected 0x60 after reset');
  out(uart, THR, 0x41);
  assert.equal(inb(uart, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
});

test('Ns8250 maps offsets 0 and 1 to the divisor latch while LCR_DLAB is set', () => {
  const { uart, sent } = setup();
  out(uart, IER, IER_ERBFI);
  out(uart, LCR, LCR_DLAB | 0x03);
  out(uart, DLL, 0x01);
  out(uart, DLM, 0x02);
  assert.equal(inb(uart, DLL), 0x01);
  assert.equal(inb(uart, DLM), 0x02);
  assert.equal(uart.divisor, 0x0201, 'expected DLM:DLL');
  out(uart, LCR, 0x03);
  assert.equal(inb(uart, IER), IER_ERBFI, 'expected IER untouched by the DLM write');
  assert.equal(inb(uart, LCR), 0x03, 'expected LCR to read back');
  uart.flush();
  assert.deepEqual(sent, [], 'expected the DLL write not to transmit');
});

test('Ns8250 reads back the scratch register', () => {
  const { uart } = setup();
  out(uart, SCR, 0xa5);
  assert.equal(inb(uart, SCR), 0xa5);
  out(uart, SCR, 0x5a);
  assert.equal(inb(uart, SCR), 0x5a);
});

test('Ns8250 keeps only the defined bits of IER and MCR', () => {
  const { uart } = setup();
  out(uart, IER, 0xff);
  assert.equal(inb(uart, IER), 0x0f, 'expected IER bits 4-7 to read 0');
  out(uart, MCR, 0xff);
  assert.equal(inb(uart, MCR), 0x1f, 'expected MCR bits 5-7 to read 0');
});

test('Ns8250 acts on the addressed byte for 2- and 4-byte accesses', () => {
  const { uart } = setup();
  const bus = new IoBus();
  bus.addPio(COM1, 8, uart);
  bus.pioWrite(COM1 + SCR, 4, 0x12345677);
  assert.equal(bus.pioRead(COM1 + SCR, 2), 0x77, 'expected the low byte, zero-extended');
  assert.equal(bus.pioRead(COM1 + LCR, 4), 0, 'expected SCR not to spill into LCR');
});

test('Ns8250 clears LSR_DR after the last RBR read', () => {
  const { uart } = setup();
  uart.receive(bytes(0x61));
  assert.equal(inb(uart, LSR) & LSR_DR, LSR_DR, 'expected DR with a byte waiting');
  assert.equal(inb(uart, RBR), 0x61);
  assert.equal(inb(uart, LSR) & LSR_DR, 0, 'expected DR clear once read');
  assert.equal(inb(uart, RBR), 0x61, 'expected an empty RBR to keep its last byte');
});

test('Ns8250 holds 16 bytes in FIFO mode and sets LSR_OE on the 17th', () => {
  const { uart } = setup();
  out(uart, FCR, FCR_FE);
  assert.equal(uart.rxSpace(), FIFO_SIZE);
  uart.receive(Uint8Array.from({ length: 17 }, (_, i) => i));
  assert.equal(uart.rxSpace(), 0, 'expected a full FIFO');
  assert.equal(inb(uart, LSR) & LSR_OE, LSR_OE, 'expected overrun');
  assert.equal(inb(uart, LSR) & LSR_OE, 0, 'expected OE cleared by the LSR read');
  const got: number[] = [];
  while (inb(uart, LSR) & LSR_DR) got.push(inb(uart, RBR));
  assert.deepEqual(
    got,
    Array.from({ length: 16 }, (_, i) => i),
    'expected byte 16 dropped',
  );
});

test('Ns8250 in 16450 mode holds one byte and an overrun replaces it', () => {
  const { uart } = setup();
  assert.equal(uart.rxSpace(), 1, 'expected a one-byte holding register');
  uart.receive(bytes(1, 2));
  assert.equal(inb(uart, LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
  assert.equal(inb(uart, RBR), 2, 'expected the newer byte (the datasheet: previous destroyed)');
});

test('Ns8250 raises the received-data interrupt at each FCR trigger level', () => {
  for (const [fcr, level] of [
    [0, 1],
    [FCR_TRIGGER_4, 4],
    [FCR_TRIGGER_8, 8],
    [FCR_TRIGGER_14, 14],
  ] as const) {
    const { uart } = setup();
    out(uart, FCR, FCR_FE | fcr);
    out(uart, IER, IER_ERBFI);
    uart.receive(new Uint8Array(level - 1));
    if (level > 1) {
      assert.equal(inb(uart, IIR) & 0x0f, IIR_CTI, `expected CTI below trigger ${level}`);
    }
    uart.receive(bytes(0));
    assert.equal(inb(uart, IIR) & 0x0f, IIR_RDI, `expected RDI at trigger ${level}`);
    inb(uart, RBR);
    const below = level > 1 ? IIR_CTI : IIR_NO_INT;
    assert.equal(inb(uart, IIR) & 0x0f, below, `expected RDI gone below trigger ${level}`);
  }
});

test('Ns8250 reports FIFO mode in IIR bits 6-7 and FCR_RFR empties the receiver', () => {
  const { uart } = setup();
  assert.equal(inb(uart, IIR), IIR_NO_INT, 'expected 16450 mode after reset');
  out(uart, FCR, FCR_FE);
  assert.equal(inb(uart, IIR), IIR_FIFO_ENABLED | IIR_NO_INT);
  uart.receive(bytes(1, 2, 3));
  out(uart, FCR, FCR_FE | FCR_RFR);
  assert.equal(inb(uart, LSR) & LSR_DR, 0, 'expected the FIFO emptied');
  uart.receive(bytes(4));
  out(uart, FCR, 0);
  assert.equal(inb(uart, LSR) & LSR_DR, 0, 'expected leaving FIFO mode to clear it');
});

test('Ns8250 orders IIR by priority: line status, received data, THRE, modem status', () => {
  const { uart } = setup();
  out(uart, IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);
  uart.setModemLines(MSR_DSR | MSR_CTS); // DCD drops: a modem status change
  uart.receive(bytes(1, 2)); // overrun in 16450 mode
  assert.equal(inb(uart, IIR), IIR_RLSI);
  inb(uart, LSR);
  assert.equal(inb(uart, IIR), IIR_RDI);
  inb(uart, RBR);
  assert.equal(inb(uart, IIR), IIR_THRI);
  assert.equal(inb(uart, IIR), IIR_MSI, 'expected THRE cleared by the IIR read');
  assert.equal(inb(uart, MSR) & MSR_DDCD, MSR_DDCD, 'expected DDCD set');
  assert.equal(inb(uart, IIR), IIR_NO_INT, 'expected the MSR read to clear the last one');
});

test('Ns8250 raises THRE when IER_ETBEI is enabled while THR is empty', () => {
  const { uart, irq } = setup();
  out(uart, MCR, MCR_OUT2);
  out(uart, IER, IER_ETBEI);
  assert.equal(irq.level, true, 'expected the line raised by enabling ETBEI');
  assert.equal(inb(uart, IIR), IIR_THRI);
  assert.equal(irq.level, false, 'expected the IIR read to clear THRE and lower the line');
  // Linux's UART_BUG_THRE probe: disable and re-enable must re-assert.
  out(uart, IER, 0);
  out(uart, IER, IER_ETBEI);
  assert.equal(inb(uart, IIR), IIR_THRI, 'expected THRE again after re-enabling');
});

test('Ns8250 drops and re-raises the line around a THR write with ETBEI', () => {
  const { uart, irq } = setup();
  out(uart, MCR, MCR_OUT2);
  out(uart, IER, IER_ETBEI);
  irq.events = [];
  out(uart, THR, 0x41);
  assert.deepEqual(irq.events, ['lower', 'raise'], 'expected one fresh edge per byte');
  assert.equal(inb(uart, IIR), IIR_THRI);
});

test('Ns8250 gates its IRQ line with MCR_OUT2', () => {
  const { uart, irq } = setup();
  out(uart, IER, IER_ERBFI);
  uart.receive(bytes(0x41));
  assert.equal(irq.level, false, 'expected no IRQ while OUT2 is clear');
  assert.equal(inb(uart, IIR), IIR_RDI, 'expected the interrupt pending in IIR regardless');
  out(uart, MCR, MCR_OUT2);
  assert.equal(irq.level, true, 'expected the IRQ once OUT2 is set');
  out(uart, MCR, 0);
  assert.equal(irq.level, false, 'expected the IRQ gone when OUT2 clears');
  assert.deepEqual(irq.events, ['raise', 'lower'], 'expected transitions only');
});

test('Ns8250 lowers its IRQ line when the last pending condition is read away', () => {
  const { uart, irq } = setup();
  out(uart, MCR, MCR_OUT2);
  out(uart, IER, IER_ERBFI);
  uart.receive(bytes(1));
  uart.receive(bytes()); // no new edge for nothing
  assert.deepEqual(irq.events, ['raise']);
  inb(uart, RBR);
  assert.deepEqual(irq.events, ['raise', 'lower']);
});

test('Ns8250 loops THR back to RBR in loopback mode without sending', () => {
  const { uart, sent } = setup();
  out(uart, MCR, MCR_LOOP);
  out(uart, THR, 0x55);
  assert.equal(inb(uart, LSR) & LSR_DR, LSR_DR);
  assert.equal(inb(uart, RBR), 0x55);
  uart.flush();
  assert.deepEqual(sent, [], 'expected nothing on the wire in loopback');
  assert.equal(uart.rxSpace(), 0, 'expected the serial input disconnected');
  uart.receive(bytes(0x66));
  assert.equal(inb(uart, LSR) & LSR_DR, 0, 'expected outside input ignored in loopback');
});

test('Ns8250 loops the modem control outputs to MSR in loopback mode', () => {
  const { uart } = setup();
  out(uart, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS); // Linux's 8250 loopback probe
  assert.equal(inb(uart, MSR) & 0xf0, MSR_DCD | MSR_CTS);
  out(uart, MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
  const msr = inb(uart, MSR);
  assert.equal(msr & 0xf0, MSR_DSR | MSR_RI);
  assert.equal(msr & (MSR_DCTS | MSR_DDCD), MSR_DCTS | MSR_DDCD, 'expected CTS, DCD deltas');
  out(uart, MCR, MCR_LOOP | MCR_DTR);
  assert.equal(inb(uart, MSR) & MSR_TERI, MSR_TERI, 'expected TERI when RI goes inactive');
});

test('Ns8250 keeps the IRQ line low in loopback even with OUT2 set', () => {
  const { uart, irq } = setup();
  out(uart, IER, IER_ERBFI);
  out(uart, MCR, MCR_LOOP | MCR_OUT2);
  out(uart, THR, 0x41);
  assert.equal(inb(uart, IIR), IIR_RDI, 'expected the interrupt pending inside the chip');
  assert.equal(irq.level, false, 'expected OUT2 forced inactive by loopback');
});

test('Ns8250 reports a connected terminal on MSR and raises MSI on changes', () => {
  const { uart, irq } = setup();
  assert.equal(inb(uart, MSR), MSR_DCD | MSR_DSR | MSR_CTS);
  out(uart, MCR, MCR_OUT2);
  out(uart, IER, IER_EDSSI);
  uart.setModemLines(MSR_DSR | MSR_CTS | MSR_RI);
  assert.equal(irq.level, true, 'expected a modem status interrupt');
  assert.equal(inb(uart, MSR), MSR_DSR | MSR_CTS | MSR_RI | MSR_DDCD);
  assert.equal(irq.level, false, 'expected the MSR read to clear it');
});

test('Ns8250.reset() returns registers to their reset values but keeps SCR and divisor', () => {
  const { uart } = setup();
  out(uart, LCR, LCR_DLAB);
  out(uart, DLL, 1);
  out(uart, LCR, 0x03);
  out(uart, SCR, 0x42);
  out(uart, IER, 0x0f);
  out(uart, MCR, 0x1f);
  out(uart, FCR, FCR_FE);
  uart.receive(bytes(1));
  uart.reset();
  assert.deepEqual(
    [IER, IIR, LCR, MCR, LSR, SCR].map((r) => inb(uart, r)),
    [0, IIR_NO_INT, 0, 0, LSR_THRE | LSR_TEMT, 0x42],
  );
  assert.equal(uart.divisor, 1);
});

/** Puts a UART through a busy state: FIFO with data, errors, deltas, THRE pending. */
function busy(uart: Ns8250): void {
  out(uart, LCR, LCR_DLAB);
  out(uart, DLL, 3);
  out(uart, LCR, 0x1b);
  out(uart, SCR, 0x99);
  out(uart, FCR, FCR_FE | FCR_TRIGGER_4);
  out(uart, MCR, MCR_OUT2 | MCR_DTR);
  out(uart, IER, IER_ERBFI | IER_ETBEI | IER_EDSSI);
  uart.setModemLines(MSR_CTS);
  uart.receive(Uint8Array.from({ length: 18 }, (_, i) => 0x30 + i));
  inb(uart, RBR);
  out(uart, THR, 0x21);
}

/** A fixed sequence of guest accesses; returns every value read. */
function probe(uart: Ns8250): number[] {
  const reads: number[] = [];
  for (let i = 0; i < 20; i++) {
    reads.push(inb(uart, IIR), inb(uart, LSR), inb(uart, RBR), inb(uart, MSR));
    if (i === 5) out(uart, IER, IER_ELSI);
  }
  for (const r of [IER, LCR, MCR, SCR]) reads.push(inb(uart, r));
  out(uart, LCR, LCR_DLAB);
  reads.push(inb(uart, DLL), inb(uart, DLM));
  return reads;
}

test('Ns8250 state round-trip produces identical subsequent behaviour', () => {
  const a = setup();
  busy(a.uart);
  const state = a.uart.saveState();
  assert.deepEqual(a.sent, [0x21], 'expected saveState() to flush pending output');
  const b = setup();
  b.uart.loadState(JSON.parse(JSON.stringify(state)) as DeviceState);
  assert.deepEqual(b.irq.events, [], 'expected loadState() not to drive the line');
  assert.equal(b.uart.irqAsserted, a.uart.irqAsserted, 'expected the same line level');
  assert.deepEqual(b.uart.saveState(), state, 'expected the state to survive unchanged');
  a.irq.events = [];
  const readsA = probe(a.uart);
  const readsB = probe(b.uart);
  assert.deepEqual(readsB, readsA, 'expected the same register reads');
  assert.deepEqual(b.irq.events, a.irq.events, 'expected the same IRQ edges');
  assert.ok(readsA.includes(IIR_FIFO_ENABLED | IIR_RDI), 'expected the probe to see RDI');
});

test('Ns8250.loadState() rejects another device, another version and bad fields', () => {
  const { uart } = setup();
  const good = uart.saveState();
  assert.throws(() => {
    uart.loadState({ device: 'i8253', version: 1 });
  }, /com1: cannot load state of i8253 version 1 \(expected ns8250 version 1\)/);
  assert.throws(() => {
    uart.loadState({ ...good, version: 2 });
  }, /version 2/);
  assert.throws(() => {
    uart.loadState({ ...good, lcr: 256 });
  }, /"lcr" must be an integer within 0xff/);
  assert.throws(() => {
    uart.loadState({ ...good, ier: 0x10 });
  }, /"ier" must be an integer within 0xf/);
  assert.throws(() => {
    uart.loadState({ ...good, rx: [1, 2] });
  }, /at most 1 bytes/);
  out(uart, SCR, 0x77);
  assert.throws(() => {
    uart.loadState({ ...good, thriPending: 'yes' });
  }, /"thriPending" must be a boolean/);
  assert.equal(inb(uart, SCR), 0x77, 'expected a rejected state to change nothing');
});
