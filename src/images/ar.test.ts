import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ArFormatError, isAr, readAr } from './ar.js';
import { DebError, extractDeb, readDeb } from './deb.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmd-ar-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function sh(cmd: string, args: string[], cwd = dir): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** One ar header: name field as given, then mtime, uid, gid, mode, size. */
function header(name: string, size: number | string, mode = '100644'): string {
  const f = (s: string, n: number): string => s.padEnd(n, ' ');
  return (
    f(name, 16) + f('0', 12) + f('0', 6) + f('0', 6) + f(mode, 8) + f(String(size), 10) + '`\n'
  );
}

describe('readAr()', () => {
  test('reads what GNU ar writes, long names and odd sizes included', () => {
    const members: Record<string, string> = {
      'debian-binary': '2.0\n',
      odd: 'odd', // 3 bytes: padded with a newline
      'a-member-name-longer-than-fifteen.txt': 'long name\n',
      'another-quite-long-member-name': 'second long name',
    };
    for (const [name, content] of Object.entries(members)) writeFileSync(join(dir, name), content);
    sh('ar', ['rc', 'gnu.a', ...Object.keys(members)]);
    const archive = new Uint8Array(readFileSync(join(dir, 'gnu.a')));
    assert.ok(isAr(archive));
    const read = readAr(archive, 'gnu.a');
    assert.deepEqual(
      read.map((m) => [m.name, Buffer.from(m.data).toString()]),
      Object.entries(members),
    );
    assert.equal((read[0]?.mode ?? 0) & 0o777, 0o644);
  });

  test('reads BSD long names (#1/length) and dpkg names (no slash)', () => {
    const bsdName = 'bsd-style-long-name.bin';
    const text =
      '!<arch>\n' +
      header('debian-binary', 4) +
      '2.0\n' +
      header(`#1/${bsdName.length}`, bsdName.length + 5) +
      bsdName +
      'hello' + // 23 + 5 = 28 bytes: even, so no padding byte
      header('/', 4) + // a symbol table, skipped
      '\0\0\0\0';
    const read = readAr(Buffer.from(text, 'latin1'), 'bsd.a');
    assert.deepEqual(
      read.map((m) => [m.name, Buffer.from(m.data).toString()]),
      [
        ['debian-binary', '2.0\n'],
        [bsdName, 'hello'],
      ],
    );
  });

  test('malformed archives are refused with the member and offset', () => {
    const magic = '!<arch>\n';
    const cases: [string, RegExp][] = [
      ['<arch>', /^x\.a: not an ar archive \(bad magic\)$/],
      ['!<thin>\n', /thin archives/],
      [magic + header('a', 4).slice(0, 40), /^x\.a: member 0 at offset 0x8: truncated header$/],
      [magic + header('a', 4).replace('`\n', 'xx') + 'abcd', /bad header terminator/],
      [magic + header('a', 400) + 'abcd', /400 bytes of data run past the end of the 72-byte file/],
      [magic + header('a', 'z') + 'abcd', /size "z" is not a number/],
      [magic + header('/5', 4) + 'abcd', /long name \/5 without a \/\/ table/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => readAr(Buffer.from(text, 'latin1'), 'x.a'),
        (e: unknown) => e instanceof ArFormatError && message.test(e.message),
        text,
      );
    }
  });
});

describe('Debian packages', () => {
  /** Builds a package with dpkg-deb holding /boot/vmlinuz-test and /bin/tool. */
  function buildDeb(compression: 'xz' | 'gzip' | 'none'): string {
    const root = join(dir, `pkg-${compression}`);
    mkdirSync(join(root, 'DEBIAN'), { recursive: true });
    mkdirSync(join(root, 'boot'), { recursive: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(
      join(root, 'DEBIAN', 'control'),
      'Package: vmd-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n' +
        'Description: test package\n',
    );
    writeFileSync(join(root, 'boot', 'vmlinuz-test'), 'kernel bytes\n');
    writeFileSync(join(root, 'bin', 'tool'), 'tool bytes\n');
    const deb = join(dir, `test-${compression}.deb`);
    sh('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, deb]);
    return deb;
  }

  test('readDeb() finds the format and the control and data members', () => {
    const parts = readDeb(readFileSync(buildDeb('xz')), 'test.deb');
    assert.equal(parts.format, '2.0');
    assert.equal(parts.control.name, 'control.tar.xz');
    assert.equal(parts.data.name, 'data.tar.xz');
  });

  for (const compression of ['xz', 'gzip', 'none'] as const) {
    test(`extractDeb() takes files out of a ${compression} package with tar wildcards`, async () => {
      const out = join(dir, `out-${compression}`);
      await extractDeb(buildDeb(compression), out, ['./boot/vmlinuz-*']);
      assert.equal(readFileSync(join(out, 'boot', 'vmlinuz-test'), 'utf8'), 'kernel bytes\n');
      assert.throws(() => readFileSync(join(out, 'bin', 'tool')), /ENOENT/, 'only what matched');
    });
  }

  test('extractDeb() says which pattern matched nothing', async () => {
    await assert.rejects(
      extractDeb(buildDeb('xz'), join(dir, 'none'), ['./boot/nothing-*']),
      (e: unknown) =>
        e instanceof DebError && / no file matches \.\/boot\/nothing-\*$/.test(e.message),
    );
  });

  test('a file that is not a package is refused', async () => {
    const notDeb = join(dir, 'not.deb');
    writeFileSync(notDeb, '!<arch>\n' + header('other', 2) + 'ab');
    await assert.rejects(extractDeb(notDeb, join(dir, 'x'), ['*']), /not a Debian package/);
    await assert.rejects(
      extractDeb(join(dir, 'missing.deb'), dir, ['*']),
      /missing\.deb: cannot read/,
    );
  });
});
