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
