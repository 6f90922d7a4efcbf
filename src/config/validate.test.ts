import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MacroTable, parseMacroDefinition } from './macros.js';
import {
  errnoText,
  isValidGroupName,
  isValidIfName,
  isValidTapName,
  isValidVmName,
  parseLladdr,
  parsePrefix4,
  parsePrefix6,
} from './validate.js';

test('VM names: letters, digits, . - _, not starting with . - _', () => {
  for (const ok of ['web', 'vm2.example.com', '0day', 'a_b-c.d']) assert.ok(isValidVmName(ok), ok);
  for (const bad of ['', '-web', '.web', '_web', 'web server', 'web/1', 'wéb']) {
    assert.ok(!isValidVmName(bad), bad);
  }
});

test('interface names: groups, taps and host bridges', () => {
  assert.ok(isValidGroupName('uplinks'));
  assert.ok(!isValidGroupName('uplink0'));
  assert.ok(!isValidGroupName('a'.repeat(16)));
  assert.ok(isValidTapName('tap') && isValidTapName('tap0') && isValidTapName('tap4294967295'));
  assert.ok(!isValidTapName('tap4294967296') && !isValidTapName('em0') && !isValidTapName('tapx'));
  assert.ok(isValidIfName('br-lan') && isValidIfName('bridge0'));
  for (const bad of ['', '.', '..', 'br/0', 'br:0', 'br 0']) assert.ok(!isValidIfName(bad), bad);
});

test('MAC addresses as ether_aton(3) reads them, normalised', () => {
  assert.equal(parseLladdr('FE:E1:BB:D1:C8:1'), 'fe:e1:bb:d1:c8:01');
  assert.equal(parseLladdr('00:11:22:33:44'), null);
  assert.equal(parseLladdr('00:11:22:33:44:555'), null);
  assert.equal(parseLladdr('00-11-22-33-44-55'), null);
});

test('IPv4 local prefixes: length 1..16 (default 16), no host bits', () => {
  assert.deepEqual(parsePrefix4('100.64.0.0/10'), { address: '100.64.0.0', length: 10 });
  assert.deepEqual(parsePrefix4('10.20.0.0'), { address: '10.20.0.0', length: 16 });
  assert.equal(parsePrefix4('10.0.0.0/17'), 'too large');
  assert.equal(parsePrefix4('0.0.0.0/0'), 'too small');
  assert.equal(parsePrefix4('10.0.0.0/x'), 'invalid');
  assert.equal(parsePrefix4('10.1.0.0/8'), 'bad mask');
  assert.equal(parsePrefix4('10.0.0/8'), 'invalid format');
});

test('IPv6 local prefixes: length 0..64 (default 64), no host bits, RFC 5952 text', () => {
  assert.deepEqual(parsePrefix6('FD00:0:0:0::/8'), { address: 'fd00::', length: 8 });
  assert.deepEqual(parsePrefix6('2001:db8:0:1::'), { address: '2001:db8:0:1::', length: 64 });
  assert.deepEqual(parsePrefix6('2001:db8:0:0:1:0:0:0/0'), 'bad mask');
  assert.deepEqual(parsePrefix6('::/0'), { address: '::', length: 0 });
  assert.equal(parsePrefix6('fd00::/65'), 'too large');
  assert.equal(parsePrefix6('fd00::1/64'), 'bad mask');
  for (const bad of ['fd00', 'fd00:::1', '1:2:3:4:5:6:7:8:9', 'g::', '1::2::3']) {
    assert.equal(parsePrefix6(bad), 'invalid format', bad);
  }
});

test('errno codes read as strerror(3) does', () => {
  assert.equal(
    errnoText(Object.assign(new Error('x'), { code: 'ENOENT' })),
    'No such file or directory',
  );
  assert.equal(errnoText(new Error('something else')), 'something else');
});

test('-D definitions split at the last =, and win over the file', () => {
  assert.deepEqual(parseMacroDefinition('a=b=c'), { name: 'a=b', value: 'c' });
  assert.equal(parseMacroDefinition('novalue'), null);
  const macros = new MacroTable();
  macros.define('disk', 'cmdline', true);
  macros.define('disk', 'file', false);
  macros.define('mem', '1G', false);
  macros.define('mem', '2G', false);
  assert.equal(macros.expand('disk'), 'cmdline');
  assert.deepEqual(macros.unused(), [{ name: 'mem', location: null }]);
  assert.equal(macros.expand('mem'), '2G');
  assert.equal(macros.expand('nope'), undefined);
});
