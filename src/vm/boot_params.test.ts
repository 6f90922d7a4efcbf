import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BootParamsOffset,
  E820_ENTRY_SIZE,
  E820_MAX_ENTRIES_ZEROPAGE,
  E820_RAM,
  buildBootParams,
  e820Map,
} from './boot_params.js';
import { makeBzImage, xzPayload, tinyElf } from '../../tests/helpers/synthetic_kernels.js';

const MiB = 1024 * 1024;

/** Little-endian reads of the zero page at offsets written out by hand. */
function reader(page: Uint8Array): {
  u8: (at: number) => number;
  u16: (at: number) => number;
  u32: (at: number) => number;
  u64: (at: number) => bigint;
} {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  return {
    u8: (at) => dv.getUint8(at),
    u16: (at) => dv.getUint16(at, true),
    u32: (at) => dv.getUint32(at, true),
    u64: (at) => dv.getBigUint64(at, true),
  };
}

describe('boot_params layout', () => {
  test('field offsets are those of zero-page.rst and boot.rst', () => {
    // Copied by hand from the two documents' tables.
    assert.deepEqual(
      { ...BootParamsOffset },
      {
        extRamdiskImage: 0x0c0,
        extRamdiskSize: 0x0c4,
        extCmdLinePtr: 0x0c8,
        e820Entries: 0x1e8,
        sentinel: 0x1ef,
        hdr: 0x1f1,
        vidMode: 0x1fa,
        bootFlag: 0x1fe,
        jump: 0x200,
        header: 0x202,
        version: 0x206,
        kernelVersion: 0x20e,
        typeOfLoader: 0x210,
        loadflags: 0x211,
        code32Start: 0x214,
        ramdiskImage: 0x218,
        ramdiskSize: 0x21c,
        cmdLinePtr: 0x228,
        initrdAddrMax: 0x22c,
        kernelAlignment: 0x230,
        relocatableKernel: 0x234,
        xloadflags: 0x236,
        cmdlineSize: 0x238,
        payloadOffset: 0x248,
        payloadLength: 0x24c,
        setupData: 0x250,
        prefAddress: 0x258,
        initSize: 0x260,
        e820Table: 0x2d0,
      },
    );
    // e820_table is 0x2d0/0xa00: 128 entries of 20 bytes.
    assert.equal(E820_MAX_ENTRIES_ZEROPAGE * E820_ENTRY_SIZE, 0xa00);
  });

  test('e820Map() gives RAM below the EBDA, the legacy hole, then RAM from 1 MiB', () => {
    assert.deepEqual(e820Map(256 * MiB), [
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x100000, size: 255 * MiB, type: E820_RAM },
    ]);
    assert.throws(() => e820Map(MiB), /does not reach past 1 MiB/);
  });
});

describe('buildBootParams()', () => {
  test('without a header (bare vmlinux) it writes the fields the kernel reads', () => {
    const page = buildBootParams({
      cmdline: { address: 0x20000, length: 27 },
      initrd: { address: 0x0f00_0000, size: 0x12_3456 },
      e820: e820Map(256 * MiB),
    });
    const r = reader(page);
    assert.equal(page.length, 4096);
    assert.equal(r.u16(0x1fe), 0xaa55, 'boot_flag');
    assert.equal(r.u32(0x202), 0x53726448, 'header "HdrS"');
    assert.equal(r.u8(0x210), 0xff, 'type_of_loader: undefined');
    assert.equal(r.u32(0x228), 0x20000, 'cmd_line_ptr');
    assert.equal(r.u32(0x238), 27, 'cmdline_size');
    assert.equal(r.u32(0x230), 0x100_0000, 'kernel_alignment');
    assert.equal(r.u32(0x218), 0x0f00_0000, 'ramdisk_image');
    assert.equal(r.u32(0x21c), 0x12_3456, 'ramdisk_size');
    assert.equal(r.u32(0x0c0) + r.u32(0x0c4) + r.u32(0x0c8), 0, 'ext_ fields: all below 4 GiB');
    assert.equal(r.u8(0x1e8), 2, 'e820_entries');
    assert.deepEqual(
      [r.u64(0x2d0), r.u64(0x2d8), r.u32(0x2e0)],
      [0n, 0x9fc00n, 1],
      'entry 0: addr, size, type',
    );
    assert.deepEqual(
      [r.u64(0x2e4), r.u64(0x2ec), r.u32(0x2f4)],
      [0x100000n, BigInt(255 * MiB), 1],
      'entry 1 follows at 0x2d0 + 20',
    );
    assert.equal(r.u8(0x1ef), 0, 'sentinel stays 0');
  });

  test('with a bzImage header it copies 0x1f1 to the header end and sets the loader fields', () => {
    const bz = makeBzImage({ payload: xzPayload(tinyElf()) });
    const header = bz.slice(0x1f1, 0x26c);
    const page = buildBootParams({
      header,
      cmdline: { address: 0x20000, length: 5 },
      e820: e820Map(64 * MiB),
    });
    const r = reader(page);
    assert.deepEqual(
      page.subarray(0x1f1, 0x210),
      bz.subarray(0x1f1, 0x210),
      'copied up to type_of_loader',
    );
    assert.deepEqual(page.subarray(0x211, 0x218), bz.subarray(0x211, 0x218));
    assert.deepEqual(
      page.subarray(0x22c, 0x26c),
      bz.subarray(0x22c, 0x26c),
      'and after cmd_line_ptr',
    );
    assert.equal(r.u16(0x206), 0x020f, 'version from the image');
    assert.equal(r.u32(0x238), 0x7ff, "cmdline_size is the kernel's, not overwritten");
    assert.equal(r.u8(0x210), 0xff);
    assert.equal(r.u32(0x228), 0x20000);
    assert.equal(r.u32(0x218) + r.u32(0x21c), 0, 'no initrd');
    assert.equal(r.u8(0x1ef), 0, "the image's 0xff sentinel is not copied");
    assert.ok(
      page.subarray(0x26c, 0x2d0).every((b) => b === 0),
      'nothing past the header end',
    );
  });

  test('addresses above 4 GiB go to the ext_ fields', () => {
    const r = reader(
      buildBootParams({
        cmdline: { address: 0x1_2345_6000, length: 1 },
        initrd: { address: 0x2_0000_1000, size: 0x1_0000_0004 },
        e820: [],
      }),
    );
    assert.deepEqual([r.u32(0x228), r.u32(0x0c8)], [0x2345_6000, 1]);
    assert.deepEqual([r.u32(0x218), r.u32(0x0c0)], [0x1000, 2]);
    assert.deepEqual([r.u32(0x21c), r.u32(0x0c4)], [4, 1]);
  });

  test('a map or header that does not fit is refused', () => {
    const e820 = Array.from({ length: 129 }, (_, i) => ({ addr: i * 4096, size: 4096, type: 1 }));
    assert.throws(
      () => buildBootParams({ cmdline: { address: 0, length: 0 }, e820 }),
      /129 e820 entries, the zero page holds 128/,
    );
    assert.throws(
      () =>
        buildBootParams({
          header: new Uint8Array(0xa0),
          cmdline: { address: 0, length: 0 },
          e820: [],
        }),
      /a setup header of 160 bytes runs past 0x290/,
    );
  });
});
