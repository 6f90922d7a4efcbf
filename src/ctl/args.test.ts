import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseInvocation, type CtlCommand } from './args.js';
import { assertParses, assertRefusals, dir, parse, USAGE, usageOf } from './parse_testing.js';

const STOP_USAGE = usageOf('stop [-fw] [id | -a]');
const long = 'a'.repeat(64);

/** Command lines vmctl refuses, and exactly what it prints. */
const FAILURES: [string[], string][] = [
  [[], USAGE],
  [['-x'], `vmctl: unknown option -- x\n${USAGE}`],
  [['st'], `ambiguous argument: st\n${USAGE}`],
  [['s'], `ambiguous argument: s\n${USAGE}`],
  [['re'], `ambiguous argument: re\n${USAGE}`],
  [['lo'], `ambiguous argument: lo\n${USAGE}`],
  [[''], `ambiguous argument: \n${USAGE}`],
  [['frobnicate'], `unknown argument: frobnicate\n${USAGE}`],
  [['statusx'], `unknown argument: statusx\n${USAGE}`],
  [['console'], usageOf('console id')],
  [['console', 'a', 'b'], usageOf('console id')],
  [['console', '-x'], 'vmctl: invalid id: -x\n'],
  [['pause', '0'], 'vmctl: invalid id: 0\n'],
  [['unpause', long], `vmctl: name too long\nvmctl: invalid id: ${long}\n`],
  [['wait', 'bad name'], 'vmctl: invalid id: bad name\n'],
  [['stop'], STOP_USAGE],
  [['stop', '-a', 'web'], STOP_USAGE],
  [['stop', 'web', '-f'], STOP_USAGE],
  [['stop', '-q', 'web'], `vmctl: unknown option -- q\n${STOP_USAGE}`],
  [['status', 'a', 'b'], usageOf('status [-jr] [id]')],
  [['show', 'a', 'b'], usageOf('show [-jr] [id]')],
  [['status', '-x'], `vmctl: unknown option -- x\n${usageOf('status [-jr] [id]')}`],
  [['log'], usageOf('log [brief | verbose]')],
  [['log', 'loud'], usageOf('log [brief | verbose]')],
  [['reset', 'x'], usageOf('reset [all | switches | vms]')],
  [['reset', 'vms', 'all'], usageOf('reset [all | switches | vms]')],
  [['reload', 'x'], usageOf('reload')],
  [['load'], usageOf('load filename')],
  [['create'], usageOf('create [-b base | -i disk] [-s size] disk')],
  [
    ['create', '-s'],
    `vmctl: option requires an argument -- s\n${usageOf('create [-b base | -i disk] [-s size] disk')}`,
  ],
  [
    ['create', 'd.img'],
    `could not create d.img: missing size argument\n${usageOf('create [-b base | -i disk] [-s size] disk')}`,
  ],
  [['create', '-s', '1', 'd.img'], 'vmctl: disk size must be at least 1MB\n'],
  [['create', '-s', 'lots', 'd.img'], 'vmctl: invalid disk size: lots: Invalid argument\n'],
  [
    ['create', '-s', '99999999E', 'd.img'],
    'vmctl: invalid disk size: 99999999E: Numerical result out of range\n',
  ],
  [['create', '-b', 'base', 'd.raw'], 'vmctl: base images require qcow2 disk format\n'],
  [['create', '-b', 'b', '-i', 'c', 'd.qcow2'], 'vmctl: conflicting -b and -i arguments\n'],
];

test('vmctl refuses bad command lines with its own messages and usage, exit status 1', () => {
  assertRefusals(FAILURES);
});

test('the usage names the program as it was run (vmmctl)', () => {
  assert.equal(parse(['stop'], 'vmmctl').stderr, 'usage:\tvmmctl [-v] stop [-fw] [id | -a]\n');
  assert.equal(parse([], 'vmmctl').stderr, 'usage:\tvmmctl [-v] command [arg ...]\n');
});

/** Command lines vmctl takes: what they parse to and what they warn. */
const SUCCESSES: [string[], CtlCommand, string][] = [
  [['stat'], { kind: 'status', vm: null, runningOnly: false, json: false }, ''],
  [
    ['sh', '-rj', 'web'],
    { kind: 'status', vm: { name: 'web' }, runningOnly: true, json: true },
    '',
  ],
  [['status', '--', '3'], { kind: 'status', vm: { id: 3 }, runningOnly: false, json: false }, ''],
  [['con', 'web'], { kind: 'console', vm: { name: 'web' } }, ''],
  [['pause', '4294967295'], { kind: 'pause', vm: { id: 4294967295 } }, ''],
  [['unpause', '4294967296'], { kind: 'unpause', vm: { name: '4294967296' } }, ''],
  [['wait', '007'], { kind: 'wait', vm: { id: 7 } }, ''],
  [['stop', '-fw', 'web'], { kind: 'stop', vm: { name: 'web' }, force: true, wait: true }, ''],
  [['stop', '-a', '-f'], { kind: 'stop', vm: null, force: true, wait: false }, ''],
  [['sto', '2'], { kind: 'stop', vm: { id: 2 }, force: false, wait: false }, ''],
  [['log', 'v'], { kind: 'log', verbose: true }, ''],
  [['log', 'BRIEF'], { kind: 'log', verbose: false }, ''],
  [['reset'], { kind: 'reset', scope: 'all' }, ''],
  [['reset', 'Switches'], { kind: 'reset', scope: 'switches' }, ''],
  [['reload'], { kind: 'reload' }, ''],
  [['load', 'extra.conf'], { kind: 'load', path: join(dir, 'extra.conf') }, ''],
  [
    ['create', '-s', '1500K', 'new.qcow2'],
    {
      kind: 'create',
      path: join(dir, 'new.qcow2'),
      format: 'qcow2',
      base: null,
      input: null,
      size: 1 << 20,
    },
    'vmctl: disk size rounded to 1.0M\n',
  ],
  [
    ['create', '-s', '1G', 'qcow2:x.img'],
    {
      kind: 'create',
      path: join(dir, 'x.img'),
      format: 'qcow2',
      base: null,
      input: null,
      size: 1 << 30,
    },
    '',
  ],
  [
    ['create', '-s1G', 'X.QCOW2'],
    {
      kind: 'create',
      path: join(dir, 'X.QCOW2'),
      format: 'qcow2',
      base: null,
      input: null,
      size: 1 << 30,
    },
    '',
  ],
  [
    ['create', '-b', 'base.qcow2', 'sub/new.qcow2'],
    {
      kind: 'create',
      path: join(dir, 'sub/new.qcow2'),
      format: 'qcow2',
      base: '../base.qcow2',
      input: null,
      size: null,
    },
    '',
  ],
  [
    ['create', '-b', '/abs/base.qcow2', 'new.qcow2'],
    {
      kind: 'create',
      path: join(dir, 'new.qcow2'),
      format: 'qcow2',
      base: '/abs/base.qcow2',
      input: null,
      size: null,
    },
    '',
  ],
  [
    ['create', '-i', 'qcow2:in.img', 'out.raw'],
    {
      kind: 'create',
      path: join(dir, 'out.raw'),
      format: 'raw',
      base: null,
      input: `qcow2:${join(dir, 'in.img')}`,
      size: null,
    },
    '',
  ],
];

test('vmctl parses good command lines into requests, with its warnings', () => {
  assertParses(SUCCESSES);
});

test('vmctl -v is accepted before the command', () => {
  const warn = (): void => undefined;
  assert.equal(parseInvocation({ prog: 'vmctl', warn }, ['-v', 'status']).verbose, true);
  assert.equal(parseInvocation({ prog: 'vmctl', warn }, ['status']).verbose, false);
});
