import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IoBus } from './bus.js';
import {
  CMD_AUX_TEST,
  CMD_KBD_DISABLE,
  CMD_KBD_ENABLE,
  CMD_KBD_TEST,
  CMD_READ_CTR,
  CMD_READ_OUTPUT,
  CMD_RESET,
  CMD_SELF_TEST,
  CMD_WRITE_AUX_OBUF,
  CMD_WRITE_CTR,
  CMD_WRITE_KBD_OBUF,
  CMD_WRITE_OUTPUT,
  CTR_FIRMWARE,
  CTR_KBDDIS,
  CTR_KBDINT,
  CTR_SYS,
  CTR_XLATE,
  I8042,
  I8042_COMMAND_PORT as CMD,
  I8042_DATA_PORT as DATA,
  OUT_A20,
  OUT_RESET,
  STATUS_AUXDATA,
  STATUS_CMD,
  STATUS_INH,
  STATUS_OBF,
  STATUS_SYS,
} from './i8042.js';
import { CTRL_ALT_DEL_SET2 } from './ps2_keyboard.js';
import type { IrqLine } from './types.js';

const hex = (bytes: readonly number[]): string =>
  bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');

/** A controller with an IRQ line that records its edges, and the resets it asked for. */
function setup(): { kbc: I8042; edges: string[]; resets: string[] } {
  const edges: string[] = [];
  const resets: string[] = [];
  const irq: IrqLine = {
    raise: () => edges.push('raise'),
    lower: () => edges.push('lower'),
    pulse: () => edges.push('pulse'),
  };
  const kbc = new I8042({ irq, onReset: (reason) => resets.push(reason) });
  return { kbc, edges, resets };
}

/** Reads the output buffer while it is full, as Linux's i8042_flush() does. */
function drain(kbc: I8042): number[] {
  const bytes: number[] = [];
  while (kbc.pioRead(CMD) & STATUS_OBF && bytes.length < 64) bytes.push(kbc.pioRead(DATA));
  return bytes;
}

function command(kbc: I8042, cmd: number, ...data: number[]): number[] {
  kbc.pioWrite(CMD, 1, cmd);
  for (const d of data) kbc.pioWrite(DATA, 1, d);
  return drain(kbc);
}

/** What a keyboard driver does first: it writes the command byte (here as firmware left it). */
function takeOver(kbc: I8042): void {
  command(kbc, CMD_WRITE_CTR, CTR_FIRMWARE);
}

function toKeyboard(kbc: I8042, ...bytes: number[]): number[] {
  for (const b of bytes) kbc.pioWrite(DATA, 1, b);
  return drain(kbc);
}

test('I8042 starts as firmware leaves it: empty, not inhibited, system flag set', () => {
  const { kbc, edges } = setup();
  assert.equal(kbc.pioRead(CMD), STATUS_INH | STATUS_SYS);
  assert.equal(kbc.commandByte, CTR_FIRMWARE);
  assert.equal(CTR_FIRMWARE & CTR_XLATE, CTR_XLATE, 'expected translation on');
  assert.deepEqual(edges, [], 'expected IRQ 1 low');
});

test('I8042 reads and writes the command byte (0x20, 0x60); status bit 3 follows the last port', () => {
  const { kbc } = setup();
  kbc.pioWrite(CMD, 1, CMD_READ_CTR);
  assert.equal(kbc.pioRead(CMD) & (STATUS_OBF | STATUS_CMD), STATUS_OBF | STATUS_CMD);
  assert.equal(kbc.pioRead(DATA), CTR_FIRMWARE);
  assert.equal(kbc.pioRead(CMD) & STATUS_OBF, 0, 'expected the buffer empty after the read');
  kbc.pioWrite(CMD, 1, CMD_WRITE_CTR);
  kbc.pioWrite(DATA, 1, CTR_XLATE | CTR_KBDDIS);
  assert.equal(kbc.pioRead(CMD) & STATUS_CMD, 0, 'expected bit 3 clear after a data write');
  assert.equal(kbc.pioRead(CMD) & STATUS_SYS, 0, 'expected SYS to follow the command byte');
  assert.deepEqual(command(kbc, CMD_READ_CTR), [CTR_XLATE | CTR_KBDDIS]);
});

test('I8042 self-test answers 0x55 and the keyboard interface test 0x00', () => {
  const { kbc } = setup();
  assert.deepEqual(command(kbc, CMD_SELF_TEST), [0x55]);
  assert.deepEqual(command(kbc, CMD_KBD_TEST), [0x00]);
  assert.equal(kbc.pioRead(DATA), 0x00, 'expected an empty buffer to read its last byte again');
});

test("I8042 passes Linux's probe: a keyboard, translated, and no AUX port", () => {
  const { kbc } = setup();
  // i8042_controller_init: flush, the command byte read twice, keyboard disabled, no IRQ.
  assert.deepEqual(drain(kbc), []);
  const ctr = command(kbc, CMD_READ_CTR)[0] ?? -1;
  assert.deepEqual(command(kbc, CMD_READ_CTR), [ctr], 'expected a stable command byte');
  const probeCtr = (ctr | CTR_KBDDIS) & ~CTR_KBDINT;
  assert.deepEqual(command(kbc, CMD_WRITE_CTR, probeCtr), []);
  // i8042_check_aux: the loopback (0xD3 0x5A) must not come back as AUX data...
  kbc.pioWrite(CMD, 1, CMD_WRITE_AUX_OBUF);
  kbc.pioWrite(DATA, 1, 0x5a);
  const status = kbc.pioRead(CMD);
  assert.equal(status & STATUS_OBF, STATUS_OBF, 'expected an answer at once, not a time-out');
  assert.equal(status & STATUS_AUXDATA, 0, 'expected no AUX data (Linux: auxerr)');
  // ...and the interface test then reads a failure (Linux reads whatever is in the buffer).
  kbc.pioWrite(CMD, 1, CMD_AUX_TEST);
  const auxTest = kbc.pioRead(DATA);
  assert.ok(auxTest !== 0 && auxTest !== 0xfa && auxTest !== 0xff, `AUX test gave ${auxTest}`);
  drain(kbc);
  // i8042_enable_kbd_port, then atkbd: ID (translated), disable, enable, LEDs, typematic.
  command(kbc, CMD_WRITE_CTR, (probeCtr & ~CTR_KBDDIS) | CTR_KBDINT);
  assert.equal(hex(toKeyboard(kbc, 0xf2)), 'fa ab 41', 'expected the ID AB 83 translated');
  assert.equal(hex(toKeyboard(kbc, 0xf5)), 'fa');
  assert.equal(hex(toKeyboard(kbc, 0xf4)), 'fa');
  assert.equal(hex(toKeyboard(kbc, 0xed, 0x02)), 'fa fa');
  assert.equal(hex(toKeyboard(kbc, 0xf3, 0x20)), 'fa fa');
  assert.equal(kbc.keyboard.leds, 0x02);
  assert.equal(kbc.keyboard.typematic, 0x20);
  assert.equal(hex(toKeyboard(kbc, 0xff)), 'fa aa', 'expected reset: ACK then BAT passed');
  assert.equal(hex(toKeyboard(kbc, 0xee)), 'ee');
  assert.equal(hex(toKeyboard(kbc, 0x5a)), 'fe', 'expected Resend for an unknown command');
  assert.ok(kbc.pressCtrlAltDel(), 'expected the driver to see Ctrl-Alt-Delete now');
  assert.equal(hex(drain(kbc)), '1d 38 e0 53 e0 d3 b8 9d');
});

test('I8042 raises IRQ 1 per byte when the command byte enables it', () => {
  const { kbc, edges } = setup();
  kbc.pioWrite(DATA, 1, 0xf2); // three bytes: FA AB 41
  assert.deepEqual(edges, ['raise']);
  kbc.pioRead(DATA);
  kbc.pioRead(DATA);
  assert.deepEqual(
    edges,
    ['raise', 'lower', 'raise', 'lower', 'raise'],
    'expected one edge a byte',
  );
  kbc.pioRead(DATA);
  assert.equal(edges.at(-1), 'lower', 'expected the line low with the buffer empty');
  command(kbc, CMD_WRITE_CTR, CTR_XLATE);
  edges.length = 0;
  toKeyboard(kbc, 0xf4);
  assert.deepEqual(edges, [], 'expected no interrupt with CTR_KBDINT clear');
});

test('I8042 holds keyboard data while the interface is disabled; results go first', () => {
  const { kbc } = setup();
  takeOver(kbc);
  assert.ok(kbc.pressCtrlAltDel());
  kbc.pioWrite(CMD, 1, CMD_KBD_DISABLE);
  // The first byte was already in the output buffer; the rest wait in the keyboard.
  const first = kbc.pioRead(DATA);
  assert.equal(first, 0x1d);
  assert.equal(kbc.pioRead(CMD) & STATUS_OBF, 0, 'expected nothing while disabled');
  kbc.pioWrite(CMD, 1, CMD_KBD_ENABLE);
  kbc.pioWrite(CMD, 1, CMD_WRITE_KBD_OBUF);
  kbc.pioWrite(DATA, 1, 0x42);
  assert.equal(hex(drain(kbc)), '38 42 e0 53 e0 d3 b8 9d');
});

test('I8042.pressCtrlAltDel() queues set 1 codes with translation, set 2 without', () => {
  const { kbc } = setup();
  takeOver(kbc);
  assert.ok(kbc.pressCtrlAltDel());
  assert.equal(hex(drain(kbc)), '1d 38 e0 53 e0 d3 b8 9d');
  command(kbc, CMD_WRITE_CTR, CTR_KBDINT | CTR_SYS);
  assert.ok(kbc.pressCtrlAltDel());
  assert.equal(hex(drain(kbc)), hex(CTRL_ALT_DEL_SET2));
  assert.equal(hex(toKeyboard(kbc, 0xf2)), 'fa ab 83', 'expected the ID untranslated');
});

test('I8042.pressCtrlAltDel() presses nothing when no driver would see it', () => {
  const cases: [string, (kbc: I8042) => void][] = [
    ['no driver yet, as firmware left it', () => undefined],
    ['keyboard not scanning', (kbc) => toKeyboard(kbc, 0xf5)],
    ['interface disabled', (kbc) => command(kbc, CMD_KBD_DISABLE)],
    ['interrupt off', (kbc) => command(kbc, CMD_WRITE_CTR, CTR_XLATE)],
  ];
  for (const [what, disable] of cases) {
    const { kbc } = setup();
    if (what !== 'no driver yet, as firmware left it') takeOver(kbc);
    disable(kbc);
    assert.equal(kbc.pressCtrlAltDel(), false, what);
    assert.deepEqual(command(kbc, CMD_KBD_ENABLE), [], `${what}: expected no key codes`);
  }
});

test('I8042 resets the machine on a reset pulse or the output port reset bit written low', () => {
  const { kbc, resets } = setup();
  command(kbc, 0xff); // pulse nothing
  command(kbc, CMD_WRITE_OUTPUT, OUT_RESET | OUT_A20);
  assert.deepEqual(resets, [], 'expected no reset yet');
  assert.deepEqual(command(kbc, CMD_READ_OUTPUT), [OUT_RESET | OUT_A20]);
  command(kbc, CMD_RESET);
  command(kbc, CMD_WRITE_OUTPUT, OUT_A20);
  assert.deepEqual(resets, ['i8042 reset pulse (command 0xfe)', 'i8042 output port reset']);
});

test('I8042 answers through the bus at 0x60 and 0x64 whatever the access size', () => {
  const { kbc } = setup();
  const bus = new IoBus();
  bus.addPio(DATA, 1, kbc);
  bus.addPio(CMD, 1, kbc);
  bus.pioWrite(CMD, 1, CMD_SELF_TEST);
  assert.equal(bus.pioRead(CMD, 1) & STATUS_OBF, STATUS_OBF);
  assert.equal(bus.pioRead(DATA, 1), 0x55);
});

test('I8042 state round-trips mid-conversation and rejects malformed records', () => {
  const { kbc } = setup();
  kbc.pioWrite(DATA, 1, 0xf2);
  kbc.pioRead(DATA); // FA taken; AB 41 still to come
  kbc.pioWrite(DATA, 1, 0xed); // the keyboard now waits for the LED byte
  kbc.pioWrite(CMD, 1, CMD_WRITE_CTR); // and the controller for a command byte
  const saved = kbc.saveState();
  const copy = setup();
  copy.kbc.loadState(JSON.parse(JSON.stringify(saved)) as typeof saved);
  assert.deepEqual(copy.kbc.saveState(), saved);
  for (const k of [kbc, copy.kbc]) {
    k.pioWrite(DATA, 1, CTR_FIRMWARE);
    k.pioWrite(DATA, 1, 0x04);
  }
  assert.equal(hex(drain(copy.kbc)), hex(drain(kbc)));
  assert.equal(copy.kbc.keyboard.leds, 0x04);
  const bad: [string, Record<string, unknown>][] = [
    ['another device', { device: 'ns8250' }],
    ['a version from the future', { version: 2 }],
    ['a command that takes no data', { command: CMD_SELF_TEST }],
    ['a byte out of range', { results: [0x100] }],
    ['a keyboard without its buffer', { keyboard: { ...(saved.keyboard as object), buffer: 7 } }],
  ];
  for (const [what, change] of bad) {
    const target = setup().kbc;
    const before = target.saveState();
    assert.throws(
      () => {
        target.loadState({ ...saved, ...change });
      },
      Error,
      what,
    );
    assert.deepEqual(target.saveState(), before, `${what}: expected nothing applied`);
  }
});
