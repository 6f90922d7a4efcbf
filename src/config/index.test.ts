import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountLookup, parseAccountFile } from './host.js';
import {
  defaultConfig,
  formatDiagnostic,
  formatErrors,
  parseConfig,
  parseConfigText,
  type ParseOptions,
} from './index.js';

const hermetic: ParseOptions = {
  cwd: '/etc',
  realpath: (path) => path,
  probeDiskFormat: () => 'raw',
  resolveUser: (name) => (name === 'joe' ? 1000 : undefined),
  resolveGroup: () => undefined,
};

test('parseConfigText: errors as file:line: message, every one of them', () => {
  const r = parseConfigText('vm "a" {\n\tmemory 1X\n\tdisk /a.img\n\towner nobody\n}\nbogus\n', {
    ...hermetic,
    name: 'test.conf',
  });
  assert.equal(
    formatErrors(r.errors),
    [
      'test.conf:2: failed to parse size: 1X: invalid memory size',
      'test.conf:4: failed to get user: nobody',
      'test.conf:6: syntax error: unknown keyword "bogus"',
    ].join('\n'),
  );
  assert.deepEqual(r.config.vms, []);
});

test('-D macros override the file and unused ones are warned about without a place', () => {
  const r = parseConfigText('img="/file.img"\nvm "a" {\n\tdisk $img\n}\n', {
    ...hermetic,
    macros: { img: '/cmdline.img', other: 'x' },
  });
  assert.deepEqual(r.errors, []);
  assert.equal(r.config.vms[0]?.disks[0]?.path, '/cmdline.img');
  assert.deepEqual(r.warnings.map(formatDiagnostic), ["warning: macro 'other' not used"]);
});

test("an empty file is vmd's defaults; an unreadable one is one error without a line", () => {
  assert.deepEqual(parseConfigText('', hermetic).config, defaultConfig());
  const r = parseConfig('/nonexistent/vm.conf', hermetic);
  assert.deepEqual(r.errors, [
    {
      file: null,
      line: 0,
      message: 'failed to open /nonexistent/vm.conf: No such file or directory',
      severity: 'error',
    },
  ]);
});

test('accounts: passwd(5) text, first entry wins, numeric ids accepted', () => {
  const ids = parseAccountFile(
    '# c\nroot:x:0:0::/root:/bin/sh\n+nis\njoe:x:1000:1000::/:/bin/sh\njoe:x:1:1::/:\n',
  );
  assert.deepEqual(
    [...ids],
    [
      ['root', 0],
      ['joe', 1000],
    ],
  );
  const lookup = accountLookup('/passwd', () => 'joe:x:1000:1000::/:/bin/sh\n');
  assert.equal(lookup('joe'), 1000);
  assert.equal(lookup('1234'), 1234);
  assert.equal(lookup('nobody'), undefined);
  assert.equal(accountLookup('/nonexistent')('1'), 1);
});

test('the default host: files relative to cwd, realpath, qcow2 magic, /etc accounts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmconf-'));
  try {
    mkdirSync(join(dir, 'conf.d'));
    mkdirSync(join(dir, 'images'));
    writeFileSync(join(dir, 'images/a.img'), 'raw data');
    writeFileSync(join(dir, 'images/b.img'), Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]));
    symlinkSync(join(dir, 'images/a.img'), join(dir, 'link.img'));
    writeFileSync(
      join(dir, 'conf.d/vm.inc'),
      'vm "a" {\n\tdisk link.img\n\tdisk images/b.img\n}\n',
    );
    writeFileSync(join(dir, 'vm.conf'), 'include "conf.d/vm.inc"\nsocket owner root\n');
    const r = parseConfig('vm.conf', { cwd: dir });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config.vms[0]?.disks, [
      { path: join(dir, 'images/a.img'), format: 'raw' },
      { path: join(dir, 'images/b.img'), format: 'qcow2' },
    ]);
    assert.deepEqual(r.config.global.socketOwner, { uid: 0, gid: 0 });
  } finally {
    rmSync(dir, { recursive: true });
  }
});
