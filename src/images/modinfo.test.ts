import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModinfoError, moduleInfo, readModinfo } from './modinfo.js';
import { assemble, assembleModule } from './testing.js';

describe('a kernel module .modinfo', () => {
  test('gives name, depends and vermagic of a real ELF object', () => {
    const ko = assembleModule({
      name: 'virtio_blk',
      depends: ['virtio', 'virtio_ring'],
      vermagic: '6.1.0-56-amd64 SMP preempt mod_unload modversions',
    });
    assert.deepEqual(moduleInfo(ko, 'virtio_blk.ko'), {
      name: 'virtio_blk',
      depends: ['virtio', 'virtio_ring'],
      vermagic: '6.1.0-56-amd64 SMP preempt mod_unload modversions',
    });
  });

  test('an empty depends= is no dependency, and missing fields are undefined', () => {
    assert.deepEqual(moduleInfo(assembleModule({ depends: [] }), 'm.ko'), {
      name: undefined,
      depends: [],
      vermagic: undefined,
    });
    assert.deepEqual(moduleInfo(assembleModule({}), 'm.ko').depends, []);
  });

  test('repeated keys keep every value in order, and values may hold "="', () => {
    const ko = assembleModule({
      extra: ['alias=virtio:d00000002v*', 'alias=pci:v00001AF4d*', 'parm=opt:a=b'],
    });
    const fields = readModinfo(ko, 'm.ko');
    assert.deepEqual(fields.get('alias'), ['virtio:d00000002v*', 'pci:v00001AF4d*']);
    assert.deepEqual(fields.get('parm'), ['opt:a=b']);
    assert.deepEqual(fields.get('license'), ['GPL']);
  });

  test('refuses what is not a 64-bit little-endian module, naming the file', () => {
    const ko = assembleModule({ name: 'm' });
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('#!/bin/sh\necho not elf\n'.repeat(4)), /^x\.ko: not an ELF/],
      [assembleModule({ name: 'm', bits: 32 }), /^x\.ko: not a 64-bit little-endian ELF/],
      [assemble('.text\nnop'), /^x\.ko: no \.modinfo section/],
      [ko.subarray(0, 100), /^x\.ko: section header \d+ lies past the end/],
      [assembleModule({ extra: ['no-equals-sign'] }), /^x\.ko: \.modinfo entry "no-equals-sign"/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(
        () => readModinfo(bytes, 'x.ko'),
        (e: unknown) => e instanceof ModinfoError && message.test(e.message),
        `expected ${String(message)}`,
      );
    }
  });
});
