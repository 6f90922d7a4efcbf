import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getopt, GetoptError } from './getopt.js';

test('getopt groups flags, takes attached and separate arguments, and stops at operands', () => {
  assert.deepEqual(getopt(['-cL', '-m1G', '-d', 'a', 'web', '-f'], 'cLm:d:f'), {
    options: [
      { letter: 'c', value: null },
      { letter: 'L', value: null },
      { letter: 'm', value: '1G' },
      { letter: 'd', value: 'a' },
    ],
    operands: ['web', '-f'],
  });
  assert.deepEqual(getopt(['-c', '--', '-x'], 'c'), {
    options: [{ letter: 'c', value: null }],
    operands: ['-x'],
  });
  assert.deepEqual(getopt(['-', '-c'], 'c'), { options: [], operands: ['-', '-c'] });
  assert.deepEqual(getopt(['-cm', '-c'], 'cm:'), {
    options: [
      { letter: 'c', value: null },
      { letter: 'm', value: '-c' },
    ],
    operands: [],
  });
});

test('getopt refuses unknown options and missing arguments with OpenBSD messages', () => {
  assert.throws(() => getopt(['-cx'], 'c'), new GetoptError('unknown option -- x'));
  assert.throws(() => getopt(['-m'], 'm:'), new GetoptError('option requires an argument -- m'));
});
