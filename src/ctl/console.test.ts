import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EscapeFilter } from './console.js';

function feed(filter: EscapeFilter, text: string): { sent: string; detach: boolean } {
  const { send, detach } = filter.push(Buffer.from(text, 'latin1'));
  return { sent: Buffer.from(send).toString('latin1'), detach };
}

test('~. at the start of a line detaches; the bytes before it are still sent', () => {
  assert.deepEqual(feed(new EscapeFilter(), '~.'), { sent: '', detach: true });
  assert.deepEqual(feed(new EscapeFilter(), 'ls\r~.rest'), { sent: 'ls\r', detach: true });
  assert.deepEqual(feed(new EscapeFilter(), 'echo\n~\x04'), { sent: 'echo\n', detach: true });
});

test('a ~ elsewhere, ~~, and ~ before another character reach the guest', () => {
  assert.deepEqual(feed(new EscapeFilter(), 'a~.b'), { sent: 'a~.b', detach: false });
  assert.deepEqual(feed(new EscapeFilter(), '~~.'), { sent: '~.', detach: false });
  assert.deepEqual(feed(new EscapeFilter(), '~x\r~/'), { sent: '~x\r~/', detach: false });
});

test('the escape may be split across reads', () => {
  const filter = new EscapeFilter();
  assert.deepEqual(feed(filter, 'pwd\r~'), { sent: 'pwd\r', detach: false });
  assert.deepEqual(feed(filter, '.'), { sent: '', detach: true });
});

test("the terminal's cursor position report after Enter keeps ~. at the start of the line", () => {
  // busybox's prompt asks ESC [ 6n; the terminal answers ESC [ 24;5R among the user's keys.
  const filter = new EscapeFilter();
  assert.deepEqual(feed(filter, 'echo hi\r'), { sent: 'echo hi\r', detach: false });
  assert.deepEqual(feed(filter, '\x1b[24;5R'), { sent: '\x1b[24;5R', detach: false });
  assert.deepEqual(feed(filter, '~.'), { sent: '', detach: true });
  // In one read, too.
  assert.deepEqual(feed(new EscapeFilter(), 'ls\r\x1b[3;1R~.'), {
    sent: 'ls\r\x1b[3;1R',
    detach: true,
  });
});

test('other control sequences (cursor keys) and a report mid-line do not start a line', () => {
  assert.deepEqual(feed(new EscapeFilter(), '\r\x1b[A~.'), { sent: '\r\x1b[A~.', detach: false });
  assert.deepEqual(feed(new EscapeFilter(), 'ab\x1b[1;3R~.'), {
    sent: 'ab\x1b[1;3R~.',
    detach: false,
  });
  assert.deepEqual(feed(new EscapeFilter(), '\r\x1bO~.'), { sent: '\r\x1bO~.', detach: false });
});
