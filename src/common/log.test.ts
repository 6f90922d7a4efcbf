import assert from 'node:assert/strict';
import { fstatSync } from 'node:fs';
import { afterEach, test } from 'node:test';

import { getVerbosity, initLog, isJournalStream, log, setVerbosity } from './log.js';

function capture(name: string, journal: boolean): string[] {
  const lines: string[] = [];
  initLog(name, {
    journal,
    sink: (line) => {
      lines.push(line);
    },
  });
  return lines;
}

afterEach(() => {
  setVerbosity(0);
  initLog('vmd', { journal: false, sink: () => undefined });
});

test('log.info() prefixes lines with the program name outside the journal', () => {
  const lines = capture('vmd', false);
  log.info('vm "%s" registered (%s)', 'web1', 'enabled');
  assert.deepEqual(lines, ['vmd: vm "web1" registered (enabled)'], 'expected one named line');
});

test('log prefixes each level with its sd-daemon priority in journal mode', () => {
  const lines = capture('vmd', true);
  setVerbosity(2);
  log.warn('w');
  log.info('i');
  log.verbose('v');
  log.debug('d');
  assert.deepEqual(lines, ['<4>w', '<6>i', '<6>v', '<7>d'], 'expected <4>, <6>, <6>, <7>');
});

test('log at verbosity 0 writes warnings and info but not verbose or debug', () => {
  const lines = capture('vmd', false);
  log.warn('w');
  log.info('i');
  log.verbose('v');
  log.debug('d');
  assert.deepEqual(lines, ['vmd: w', 'vmd: i'], 'expected only warn and info');
  assert.equal(log.debugEnabled(), false, 'expected debug off at verbosity 0');
});

test('log at verbosity 1 adds verbose lines but not debug', () => {
  const lines = capture('vmd', false);
  setVerbosity(1);
  log.verbose('v');
  log.debug('d');
  assert.deepEqual(lines, ['vmd: v'], 'expected the verbose line only');
});

test('log at verbosity 2 adds debug lines', () => {
  const lines = capture('vm/web1', false);
  setVerbosity(2);
  log.debug('port 0x%s', (0x80).toString(16));
  assert.deepEqual(lines, ['vm/web1: port 0x80'], 'expected the debug line');
  assert.equal(log.debugEnabled(), true, 'expected debug on at verbosity 2');
  assert.equal(getVerbosity(), 2, 'expected getVerbosity() to return what was set');
});

test('log prefixes every line of a multi-line message', () => {
  const lines = capture('vmd', true);
  log.warn('first\nsecond');
  assert.deepEqual(lines, ['<4>first', '<4>second'], 'expected both lines prefixed');
});

test('log prints an Error argument as its message below debug verbosity', () => {
  const lines = capture('vmd', false);
  log.warn('cannot open %s: %s', 'disk.img', new Error('ENOENT: no such file'));
  assert.deepEqual(lines, ['vmd: cannot open disk.img: ENOENT: no such file']);
});

test('log prints an Error argument with its stack at debug verbosity', () => {
  const lines = capture('vmd', false);
  setVerbosity(2);
  log.warn('failed: %s', new Error('boom'));
  assert.ok(lines.length > 1, `expected the stack on further lines, got ${lines.length} line`);
  assert.equal(lines[0], 'vmd: failed: Error: boom');
});

test('setVerbosity() rejects a negative or fractional level', () => {
  assert.throws(() => {
    setVerbosity(-1);
  }, /non-negative integer/);
  assert.throws(() => {
    setVerbosity(1.5);
  }, /non-negative integer/);
});

test('isJournalStream() is false without JOURNAL_STREAM', () => {
  assert.equal(isJournalStream({}), false);
});

test('isJournalStream() is true when JOURNAL_STREAM names the stderr file', () => {
  const st = fstatSync(2, { bigint: true });
  const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
  assert.equal(isJournalStream(env), true, 'expected stderr to match its own dev:ino');
});

test('isJournalStream() is false when stderr was redirected away from the journal', () => {
  const st = fstatSync(2, { bigint: true });
  const env = { JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` };
  assert.equal(isJournalStream(env), false, 'expected a different inode not to match');
  assert.equal(isJournalStream({ JOURNAL_STREAM: 'garbage' }), false, 'expected junk to fail');
});
