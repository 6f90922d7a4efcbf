import { test } from 'node:test';
import { join } from 'node:path';
import { startParams } from '../daemon/message_samples.js';
import type { CtlCommand } from './args.js';
import {
  assertParses,
  assertRefusals,
  dir,
  disk,
  initrd,
  kernel,
  qcow,
  usageOf,
} from './parse_testing.js';

const START_USAGE = usageOf(
  'start [-cL] [-B device] [-b path] [-C cmdline] [-d disk] [-I initrd]\n' +
    '\t\t[-i count] [-m size] [-n switch] [-r path] [-t name] id | name',
);
const long = 'a'.repeat(64);

/** `start` command lines vmctl refuses, and exactly what it prints. */
const FAILURES: [string[], string][] = [
  [['start'], START_USAGE],
  [['start', '-c'], START_USAGE],
  [['start', 'a', 'b'], START_USAGE],
  [['start', '-m', '1G', '-m', '2G', 'x'], 'vmctl: memory specified multiple times\n'],
  [['start', '-m', '1K', 'x'], 'vmctl: memory size must be at least 1MB\n'],
  [['start', '-m', '129G', 'x'], 'vmctl: memory size too large (limit is 128G)\n'],
  [['start', '-B', 'floppy', 'x'], 'vmctl: unknown boot device floppy\n'],
  [['start', '-B', 'disk', '-B', 'net', 'x'], 'vmctl: boot device specified multiple times\n'],
  [
    ['start', '-b', '/nonexistent/k', 'x'],
    'vmctl: invalid boot image path: No such file or directory\n',
  ],
  [['start', '-b', kernel, '-b', kernel, 'x'], 'vmctl: boot image specified multiple times\n'],
  [
    ['start', '-r', '/nonexistent/iso', 'x'],
    'vmctl: invalid iso image path: /nonexistent/iso: No such file or directory\n',
  ],
  [
    ['start', '-d', 'qcow2:/nonexistent/d', 'x'],
    'vmctl: invalid disk path: /nonexistent/d: No such file or directory\n',
  ],
  [
    ['start', '-I', 'missing', 'x'],
    'vmctl: invalid initrd path: missing: No such file or directory\n',
  ],
  [['start', '-I', initrd, '-I', initrd, 'x'], 'vmctl: initrd specified multiple times\n'],
  [['start', '-C', 'a', '-C', 'b', 'x'], 'vmctl: command line specified multiple times\n'],
  [['start', '-C', 'x'.repeat(2048), 'x'], 'vmctl: command line too long\n'],
  [['start', '-i', '0', 'x'], 'vmctl: count is too small: 0\nvmctl: invalid interface count: 0\n'],
  [
    ['start', '-i', 'two', 'x'],
    'vmctl: count is invalid: two\nvmctl: invalid interface count: two\n',
  ],
  [['start', '-i', '1', '-i', '2', 'x'], 'vmctl: interfaces specified multiple times\n'],
  [['start', '-t', 'bad name', 'x'], 'vmctl: invalid name: bad name\n'],
  [['start', '-t', long, 'x'], `vmctl: instance vm name too long\nvmctl: invalid name: ${long}\n`],
  [
    ['start', '-m', '1G', 'x'],
    'vmctl: starting without disks\nvmctl: no kernel or disk/cdrom specified\n',
  ],
  [
    [
      'start',
      ...Array<string>(5)
        .fill('-d')
        .flatMap((d) => [d, disk]),
      'x',
    ],
    'vmctl: too many disks\n',
  ],
  [['start', '-i', '5', '-d', disk, 'x'], 'vmctl: too many network interfaces\n'],
  [
    ['start', '-LLL', '-n', 'a', '-n', 'b', '-d', disk, 'x'],
    'vmctl: too many network interfaces\n',
  ],
  [
    ['start', '-d', disk, '-C', 'quiet', 'x'],
    'vmctl: an initrd or a command line needs a kernel (-b)\n',
  ],
  [['start', '-n', long, '-d', disk, 'x'], 'vmctl: interface name too long\n'],
  [['start', '-n', 'a\tb', 'x'], 'vmctl: invalid network: a\tb\n'],
  [['start', '-b', dir, 'x'], 'vmctl: kernel must be a regular file\n'],
  [['start', '-b', kernel, '-I', dir, 'x'], 'vmctl: initrd must be a regular file\n'],
  [['start', 'bad!name'], 'vmctl: invalid VM name\n'],
  [['start', '-x', 'web'], `vmctl: unknown option -- x\n${START_USAGE}`],
];

test("start refuses bad options, operands and VMs with vmctl's messages", () => {
  assertRefusals(FAILURES);
});

/** `start` command lines vmctl takes: the request they make and what they warn. */
const SUCCESSES: [string[], CtlCommand, string][] = [
  [
    ['start', '-C', 'console=ttyS0 debug', 'web'],
    {
      kind: 'start',
      console: false,
      params: startParams({ name: 'web' }, { cmdline: 'console=ttyS0 debug' }),
    },
    '',
  ],
  [['start', 'web'], { kind: 'start', console: false, params: startParams({ name: 'web' }) }, ''],
  [['start', '-c', '5'], { kind: 'start', console: true, params: startParams({ id: 5 }) }, ''],
  [
    [
      'start',
      '-d',
      'disk.img',
      '-d',
      'magic.img',
      '-d',
      'raw:UPPER.QCOW2',
      '-d',
      'UPPER.QCOW2',
      'new',
    ],
    {
      kind: 'start',
      console: false,
      params: startParams(
        { name: 'new' },
        {
          disks: [
            { path: disk, format: 'raw' },
            { path: qcow, format: 'qcow2' },
            { path: join(dir, 'UPPER.QCOW2'), format: 'raw' },
            { path: join(dir, 'UPPER.QCOW2'), format: 'qcow2' },
          ],
        },
      ),
    },
    'vmctl: starting without network interfaces\n',
  ],
  [
    [
      'start',
      '-n',
      'uplink',
      '-L',
      '-i',
      '3',
      '-m',
      '1537M',
      '-B',
      'cdrom',
      '-r',
      'disk.img',
      'new',
    ],
    {
      kind: 'start',
      console: false,
      params: startParams(
        { name: 'new' },
        {
          memory: 1537 << 20,
          bootDevice: 'cdrom',
          cdrom: disk,
          interfaces: [
            { local: true, switch: null },
            { local: false, switch: 'uplink' },
          ],
          interfaceCount: 3,
        },
      ),
    },
    'vmctl: starting without disks\n',
  ],
  [
    ['start', '-b', kernel, '-I', initrd, '-C', 'console=ttyS0 quiet', '-m', '64M', 'linux'],
    {
      kind: 'start',
      console: false,
      params: startParams(
        { name: 'linux' },
        {
          boot: kernel,
          initrd,
          cmdline: 'console=ttyS0 quiet',
          memory: 64 << 20,
        },
      ),
    },
    '',
  ],
  [
    ['start', '-t', 'base', '-d', disk, '-n', '', 'inst'],
    {
      kind: 'start',
      console: false,
      params: startParams(
        { name: 'inst' },
        {
          template: 'base',
          disks: [{ path: disk, format: 'raw' }],
          interfaces: [{ local: false, switch: null }],
        },
      ),
    },
    '',
  ],
  [
    ['start', '-m', '1000000000', '-d', disk, '-L', 'big'],
    {
      kind: 'start',
      console: false,
      params: startParams(
        { name: 'big' },
        {
          memory: 953 << 20,
          disks: [{ path: disk, format: 'raw' }],
          interfaces: [{ local: true, switch: null }],
        },
      ),
    },
    'vmctl: memory size rounded to 953M\n',
  ],
];

test("start turns its options into a start request, with vmctl's warnings", () => {
  assertParses(SUCCESSES);
});
