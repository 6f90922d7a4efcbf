import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CpioError, writeCpio } from './cpio.js';
import type { CpioEntry } from './cpio.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vmd-cpio-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs the system cpio with `archive` on standard input; returns its standard output. */
function cpio(args: string[], archive: Uint8Array, cwd?: string): string {
  const env = { ...process.env, LC_ALL: 'C', TZ: 'UTC' };
  return execFileSync('cpio', args, { input: archive, cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    .toString('utf8')
    .trimEnd();
}

const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');
/** A plain Uint8Array copy, so that deepEqual does not compare prototypes (Buffer or not). */
const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);

// Files of every length modulo 4 and names of every length modulo 4, to exercise the padding.
const SAMPLE: CpioEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'dir', path: 'etc', mode: 0o750, mtime: 1_700_000_000 },
  { type: 'file', path: 'etc/a', data: new Uint8Array() },
  { type: 'file', path: 'etc/bb', data: bytes('1') },
  { type: 'file', path: 'etc/ccc', data: bytes('22'), mode: 0o600, mtime: 1_600_000_000 },
  { type: 'file', path: 'etc/dddd', data: bytes('333') },
  { type: 'file', path: '/etc/eeeee', data: bytes('4444\n') },
  { type: 'file', path: 'bin/tool', data: bytes('#!/bin/sh\necho hi\n'), mode: 0o755 },
  { type: 'symlink', path: 'bin/link', target: 'tool' },
  { type: 'symlink', path: 'etc/abs', target: '/etc/bb' },
];

describe('writeCpio()', () => {
  test('the system cpio lists every entry in order, with types, modes and sizes', () => {
    const devices: CpioEntry[] = [
      { type: 'dir', path: 'dev' },
      { type: 'char', path: 'dev/console', major: 5, minor: 1 },
      { type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660 },
    ];
    const listing = cpio(['-t', '-v', '--quiet'], writeCpio([...SAMPLE, ...devices])).split('\n');
    assert.equal(listing.length, SAMPLE.length + devices.length);
    assert.match(listing[0] ?? '', /^drwxr-xr-x +2 root +root +0 /);
    assert.match(listing[1] ?? '', /^drwxr-x--- +2 root +root +0 .* 2023 etc$/);
    assert.match(listing[4] ?? '', /^-rw------- +1 root +root +2 .* etc\/ccc$/);
    assert.match(listing[7] ?? '', /^-rwxr-xr-x +1 root +root +18 .* bin\/tool$/);
    assert.match(listing[8] ?? '', /^lrwxrwxrwx .* bin\/link -> tool$/);
    assert.match(listing[9] ?? '', /^lrwxrwxrwx .* etc\/abs -> \/etc\/bb$/);
    assert.match(listing[11] ?? '', /^crw------- +1 root +root +5, +1 .* dev\/console$/);
    assert.match(listing[12] ?? '', /^brw-rw---- +1 root +root +254, +0 .* dev\/vda$/);
  });

  test('the system cpio extracts the same files, modes and links', () => {
    const dir = tempDir();
    cpio(['-i', '-d', '-m', '--quiet', '--no-absolute-filenames'], writeCpio(SAMPLE), dir);
    for (const entry of SAMPLE) {
      const path = join(dir, entry.path);
      if (entry.type === 'file') {
        assert.deepEqual(u8(readFileSync(path)), u8(entry.data), entry.path);
        assert.equal(statSync(path).mode & 0o7777, entry.mode ?? 0o644, entry.path);
      } else if (entry.type === 'symlink') {
        assert.equal(readlinkSync(path), entry.target, entry.path);
      } else {
        assert.ok(statSync(path).isDirectory(), entry.path);
      }
    }
    assert.equal(statSync(join(dir, 'etc', 'ccc')).mtimeMs, 1_600_000_000_000, 'mtime kept');
  });

  test('headers are newc: magic, 13 hex fields, 4-byte alignment, a 512-byte-block archive', () => {
    const archive = writeCpio([{ type: 'file', path: 'abc', data: bytes('hello') }]);
    const text = Buffer.from(archive).toString('latin1');
    assert.equal(archive.length % 512, 0);
    const field = (i: number, at = 0): number =>
      Number.parseInt(text.slice(at + 6 + i * 8, at + 14 + i * 8), 16);
    assert.equal(text.slice(0, 6), '070701');
    assert.equal(field(0), 1, 'ino');
    assert.equal(field(1), 0o100644, 'mode: regular file, rw-r--r--');
    assert.equal(field(4), 1, 'nlink');
    assert.equal(field(6), 5, 'filesize');
    assert.equal(field(11), 4, 'namesize counts the NUL');
    assert.equal(field(12), 0, 'check is 0 in newc');
    // 110-byte header + "abc\0" = 114, padded to 116; data 5 bytes padded to 8.
    assert.equal(text.slice(110, 116), 'abc\0\0\0');
    assert.equal(text.slice(116, 124), 'hello\0\0\0');
    assert.equal(text.slice(124, 130), '070701', 'the trailer follows, aligned');
    assert.equal(text.slice(124 + 110, 124 + 121), 'TRAILER!!!\0');
  });

  test('the same entries always give the same bytes', () => {
    assert.deepEqual(writeCpio(SAMPLE), writeCpio(SAMPLE));
  });

  test('bad entries are refused with the path in the message', () => {
    const cases: [CpioEntry[], RegExp][] = [
      [[{ type: 'file', path: 'etc/x', data: bytes('') }], /^etc\/x: its folder etc must be/],
      [
        [
          { type: 'dir', path: 'a' },
          { type: 'dir', path: 'a' },
        ],
        /^a: archived twice$/,
      ],
      [[{ type: 'dir', path: 'a/../b' }], /^"a\/..\/b": not a clean relative path$/],
      [[{ type: 'dir', path: '/' }], /^"\/": not a clean relative path$/],
      [[{ type: 'dir', path: 'TRAILER!!!' }], /reserved for the trailer/],
      [[{ type: 'symlink', path: 'l', target: '' }], /^l: empty symbolic link target$/],
      [[{ type: 'dir', path: 'd', mode: 0o10000 }], /^d: permission bits 0o10000 out of range$/],
      [[{ type: 'char', path: 'c', major: -1, minor: 0 }], /^c: header value -1 does not fit/],
    ];
    for (const [entries, message] of cases) {
      assert.throws(
        () => writeCpio(entries),
        (e: unknown) => e instanceof CpioError && message.test(e.message),
      );
    }
  });
});
