import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHeader, hasQcow2Magic, parseHeader } from './qcow2_header.js';

test('an encoded header parses back, with the backing file name and format', () => {
  const bytes = encodeHeader({
    clusterBits: 16,
    size: 10 * 1024 * 1024,
    l1Size: 1,
    l1TableOffset: 0x30000,
    refcountTableOffset: 0x10000,
    refcountTableClusters: 1,
    refcountOrder: 4,
    backingFile: '../images/base image.qcow2',
    backingFormat: 'qcow2',
  });
  assert.ok(hasQcow2Magic(bytes));
  const first = new Uint8Array(0x10000);
  first.set(bytes);
  const parsed = parseHeader('new.qcow2', first, 0x40000);
  assert.equal(parsed.backingFile, '../images/base image.qcow2');
  assert.equal(parsed.backingFormat, 'qcow2');
  assert.deepEqual(
    { ...parsed.header, backingFileOffset: 0 },
    {
      version: 3,
      backingFileOffset: 0,
      backingFileSize: 26,
      clusterBits: 16,
      size: 10 * 1024 * 1024,
      cryptMethod: 0,
      l1Size: 1,
      l1TableOffset: 0x30000,
      refcountTableOffset: 0x10000,
      refcountTableClusters: 1,
      nbSnapshots: 0,
      snapshotsOffset: 0,
      incompatibleFeatures: 0n,
      compatibleFeatures: 0n,
      autoclearFeatures: 0n,
      refcountOrder: 4,
      headerLength: 104,
    },
  );
});

test('encodeHeader() refuses backing file names the format cannot hold', () => {
  const base = {
    clusterBits: 9,
    size: 1024 * 1024,
    l1Size: 32,
    l1TableOffset: 0x600,
    refcountTableOffset: 0x200,
    refcountTableClusters: 1,
    refcountOrder: 4,
  };
  assert.throws(() => encodeHeader({ ...base, backingFile: 'x'.repeat(1024) }), {
    code: 'invalid',
    message: /longer than 1023 bytes/,
  });
  assert.throws(() => encodeHeader({ ...base, backingFile: 'x'.repeat(500) }), {
    code: 'invalid',
    message: /does not fit in one cluster/,
  });
});
