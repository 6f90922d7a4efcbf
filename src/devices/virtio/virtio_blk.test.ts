import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import type { DiskImage } from '../../block/image.js';
import { openImage } from '../../block/open.js';
import { createQcow2 } from '../../block/qcow2_create.js';
import { createRaw } from '../../block/raw.js';
import { SKIP_QEMU, assertClean, fileHash, qemuContents, tempDir } from '../../block/testing.js';
import {
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_PCI_CONFIG,
  VIRTIO_PCI_HOST_FEATURES,
  VIRTIO_PCI_ISR,
  VIRTIO_PCI_STATUS,
  VIRTIO_RING_F_INDIRECT_DESC,
} from './constants.js';
import { makeHarness, until } from './driver_harness.js';
import type { Harness, RequestPart, Submitted } from './driver_harness.js';
import {
  VIOBLK_BUFFERS,
  VIOBLK_CHUNK,
  VIOBLK_PIECES_IN_FLIGHT,
  VIOBLK_SEG_MAX,
  VirtioBlk,
} from './virtio_blk.js';

const MIB = 1024 * 1024;
const RING_PFN = 0x10;
const ALL_FEATURES = 0xffffffff;

/** A request header: type, reserved, sector. */
function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const view = new DataView(h.buffer);
  view.setUint32(0, type, true);
  view.setBigUint64(8, BigInt(sector), true);
  return h;
}

/** A pattern that differs at every offset of a request, and between requests. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed + (i >> 9)) & 0xff);
}

interface Disk {
  readonly h: Harness;
  readonly image: DiskImage;
  readonly path: string;
  /** Submits a request and waits until the device returned it; resolves with its status. */
  request(parts: readonly RequestPart[]): Promise<{ sub: Submitted; status: number; len: number }>;
}

/** A virtio-blk device over a fresh image of `size` bytes in a temporary folder. */
async function disk(
  t: { after: (fn: () => Promise<void>) => void },
  options: { format?: 'raw' | 'qcow2'; size?: number; readOnly?: boolean } = {},
): Promise<Disk> {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const format = options.format ?? 'raw';
  const path = join(dir, `disk.${format}`);
  const size = options.size ?? 4 * MIB;
  if (format === 'raw') await createRaw(path, size);
  else await createQcow2(path, { size });
  const image = await openImage(path, { format, readOnly: options.readOnly ?? false });
  t.after(() => image.close());
  const h = makeHarness(new VirtioBlk({ name: 'vioblk0', image }), 4 * MIB);
  h.driver.start(ALL_FEATURES, [{ index: 0, pfn: RING_PFN }]);
  let done = 0;
  return {
    h,
    image,
    path,
    async request(parts) {
      const sub = h.driver.submit(0, parts);
      const want = ++done;
      await until(() => h.driver.usedIndex(0) === (want & 0xffff), `request ${want}`);
      const last = sub.parts.at(-1);
      assert.ok(last !== undefined);
      const used = h.driver.usedElement(0, want - 1);
      assert.equal(used.id, sub.head, 'the used element names the request');
      return { sub, status: h.driver.bytes(last.gpa, 1)[0] ?? -1, len: used.len };
    },
  };
}

test('configuration: capacity in sectors, seg_max, blk_size; features offered', async (t) => {
  const { h } = await disk(t, { size: 3 * MIB + 700 });
  const features = h.driver.read(VIRTIO_PCI_HOST_FEATURES, 4);
  const want =
    (1 << VIRTIO_BLK_F_SEG_MAX) |
    (1 << VIRTIO_BLK_F_BLK_SIZE) |
    (1 << VIRTIO_BLK_F_FLUSH) |
    (1 << VIRTIO_RING_F_INDIRECT_DESC);
  assert.equal(features >>> 0, want >>> 0, 'SEG_MAX, BLK_SIZE, FLUSH, INDIRECT_DESC; not RO');
  assert.equal(h.driver.read(VIRTIO_PCI_CONFIG, 4), (3 * MIB) / 512 + 1, 'capacity, low dword');
  assert.equal(h.driver.read(VIRTIO_PCI_CONFIG + 4, 4), 0, 'capacity, high dword');
  assert.equal(h.driver.read(VIRTIO_PCI_CONFIG + 12, 4), VIOBLK_SEG_MAX);
  assert.equal(h.driver.read(VIRTIO_PCI_CONFIG + 20, 4), 512, 'blk_size');
  assert.equal(h.driver.read(VIRTIO_PCI_CONFIG + 20, 1), 0, 'a byte of blk_size');
});

for (const format of ['raw', 'qcow2'] as const) {
  test(`${format}: a write over two segments, a flush, and a read back`, async (t) => {
    const d = await disk(t, { format });
    const data = pattern(8192, 7);
    const write = await d.request([
      { out: header(VIRTIO_BLK_T_OUT, 9) },
      { out: data.subarray(0, 1536) },
      { out: data.subarray(1536) },
      { in: 1 },
    ]);
    assert.equal(write.status, VIRTIO_BLK_S_OK);
    assert.equal(write.len, 1, 'a write returns only the status byte');
    assert.equal(d.h.intx(), true, 'the completion interrupts');
    assert.equal(d.h.driver.read(VIRTIO_PCI_ISR, 1), 1);
    const flush = await d.request([{ out: header(VIRTIO_BLK_T_FLUSH, 0) }, { in: 1 }]);
    assert.equal(flush.status, VIRTIO_BLK_S_OK);
    const read = await d.request([
      { out: header(VIRTIO_BLK_T_IN, 8) },
      { in: 512 },
      { in: 8192 },
      { in: 1 },
    ]);
    assert.equal(read.status, VIRTIO_BLK_S_OK);
    assert.equal(read.len, 512 + 8192 + 1, 'data and status written');
    const [, first, second] = read.sub.parts;
    assert.ok(first !== undefined && second !== undefined);
    assert.deepEqual(d.h.driver.bytes(first.gpa, 512), new Uint8Array(512), 'sector 8: zeros');
    assert.deepEqual(d.h.driver.bytes(second.gpa, 8192), data, 'sectors 9-24: what was written');
    assert.ok(d.h.invalidations() > 0, 'device writes went through GuestMemory');
    await d.image.close();
    if (format === 'raw') {
      const file = await readFile(d.path);
      assert.deepEqual(new Uint8Array(file.subarray(9 * 512, 9 * 512 + 8192)), data);
    } else if (SKIP_QEMU === false) {
      assertClean(d.path);
      const contents = await qemuContents(d.path, join(d.path, '..'));
      assert.deepEqual(new Uint8Array(contents.subarray(9 * 512, 9 * 512 + 8192)), data);
    }
  });
}

test('a request larger than the transfer piece is done whole', async (t) => {
  const d = await disk(t);
  const length = 2 * VIOBLK_CHUNK + 3 * 512;
  const data = pattern(length, 3);
  const w = await d.request([{ out: header(VIRTIO_BLK_T_OUT, 100) }, { out: data }, { in: 1 }]);
  assert.equal(w.status, VIRTIO_BLK_S_OK);
  const r = await d.request([{ out: header(VIRTIO_BLK_T_IN, 100) }, { in: length }, { in: 1 }]);
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  const part = r.sub.parts[1];
  assert.ok(part !== undefined);
  assert.deepEqual(d.h.driver.bytes(part.gpa, length), data);
});

test('requests in indirect tables, several in flight at once, each done whole', async (t) => {
  const d = await disk(t);
  // Each request takes one ring entry, so more fit at once than the ring has descriptors for.
  const segments = 40;
  const requests = 5;
  const data = Array.from({ length: requests }, (_, r) => pattern(segments * 512, r + 20));
  const writes = data.map((bytes, r) =>
    d.h.driver.submit(
      0,
      [
        { out: header(VIRTIO_BLK_T_OUT, r * segments) },
        ...Array.from({ length: segments }, (_, i) => ({
          out: bytes.subarray(i * 512, (i + 1) * 512),
        })),
        { in: 1 },
      ],
      { indirect: true, notify: false },
    ),
  );
  d.h.driver.notify(0);
  await until(() => d.h.driver.usedIndex(0) === requests, `${requests} writes`);
  for (const [r, w] of writes.entries()) {
    const status = w.parts.at(-1);
    assert.ok(status !== undefined);
    assert.equal(d.h.driver.bytes(status.gpa, 1)[0], VIRTIO_BLK_S_OK, `write ${r}: status`);
  }
  const reads = data.map((_, r) =>
    d.h.driver.submit(
      0,
      [
        { out: header(VIRTIO_BLK_T_IN, r * segments) },
        ...Array.from({ length: segments }, () => ({ in: 512 })),
        { in: 1 },
      ],
      { indirect: true },
    ),
  );
  await until(() => d.h.driver.usedIndex(0) === 2 * requests, `${requests} reads`);
  for (const [r, read] of reads.entries()) {
    const got = new Uint8Array(segments * 512);
    read.parts.slice(1, -1).forEach((p, i) => {
      got.set(d.h.driver.bytes(p.gpa, p.length), i * 512);
    });
    assert.deepEqual(got, data[r], `read ${r}: what write ${r} put there`);
  }
  assert.equal(d.h.transport.broken, false, 'indirect tables are accepted once negotiated');
});

test('pieces run a few at a time per request, and the device holds a bounded number', async (t) => {
  const { dir, remove } = await tempDir();
  t.after(remove);
  const path = join(dir, 'disk.raw');
  await createRaw(path, 8 * MIB);
  const image = await openImage(path, { format: 'raw', readOnly: false });
  t.after(() => image.close());
  let inFlight = 0;
  let most = 0;
  // The real image, counting the reads it is doing at once.
  const counted: DiskImage = Object.create(image, {
    read: {
      value: async (offset: number, buffer: Uint8Array): Promise<void> => {
        most = Math.max(most, ++inFlight);
        try {
          await image.read(offset, buffer);
        } finally {
          inFlight--;
        }
      },
    },
  }) as DiskImage;
  const h = makeHarness(new VirtioBlk({ name: 'vioblk0', image: counted }), 32 * MIB);
  h.driver.start(ALL_FEATURES, [{ index: 0, pfn: RING_PFN }]);
  const length = 4 * VIOBLK_CHUNK + 512;
  const read = (): RequestPart[] => [
    { out: header(VIRTIO_BLK_T_IN, 0) },
    { in: length },
    { in: 1 },
  ];
  h.driver.submit(0, read(), { indirect: true });
  await until(() => h.driver.usedIndex(0) === 1, 'one read of five pieces');
  assert.equal(most, VIOBLK_PIECES_IN_FLIGHT, `one request: ${VIOBLK_PIECES_IN_FLIGHT} at once`);
  most = 0;
  const requests = 8;
  for (let i = 0; i < requests; i++) h.driver.submit(0, read(), { indirect: true, notify: false });
  h.driver.notify(0);
  await until(() => h.driver.usedIndex(0) === 1 + requests, `${requests} reads`);
  assert.ok(most > VIOBLK_PIECES_IN_FLIGHT, `requests overlap (at most ${most} at once)`);
  assert.ok(most <= VIOBLK_BUFFERS, `at most ${VIOBLK_BUFFERS} pieces at once, saw ${most}`);
  assert.equal(h.transport.broken, false);
});

test('GET_ID returns the serial (the file name), NUL-padded to 20 bytes', async (t) => {
  const d = await disk(t);
  const r = await d.request([{ out: header(VIRTIO_BLK_T_GET_ID, 0) }, { in: 20 }, { in: 1 }]);
  assert.equal(r.status, VIRTIO_BLK_S_OK);
  const id = r.sub.parts[1];
  assert.ok(id !== undefined);
  const want = new Uint8Array(20);
  want.set(new TextEncoder().encode('disk.raw'));
  assert.deepEqual(d.h.driver.bytes(id.gpa, 20), want);
});

test('outside the disk, or not whole sectors: IOERR, and no data written', async (t) => {
  const d = await disk(t, { size: MIB });
  const last = MIB / 512 - 1;
  const past = await d.request([{ out: header(VIRTIO_BLK_T_IN, last) }, { in: 1024 }, { in: 1 }]);
  assert.equal(past.status, VIRTIO_BLK_S_IOERR, 'the second sector is past the end');
  assert.equal(past.len, 1, 'only the status byte was written');
  const huge = await d.request([{ out: header(VIRTIO_BLK_T_IN, 2 ** 62) }, { in: 512 }, { in: 1 }]);
  assert.equal(huge.status, VIRTIO_BLK_S_IOERR, 'a sector number beyond 2^53');
  const odd = await d.request([
    { out: header(VIRTIO_BLK_T_OUT, 0) },
    { out: pattern(100, 1) },
    { in: 1 },
  ]);
  assert.equal(odd.status, VIRTIO_BLK_S_IOERR, '100 bytes is not a whole sector');
  const ok = await d.request([{ out: header(VIRTIO_BLK_T_IN, last) }, { in: 512 }, { in: 1 }]);
  assert.equal(ok.status, VIRTIO_BLK_S_OK, 'the last sector itself is fine');
  assert.equal(d.h.transport.broken, false, 'errors in requests do not break the device');
});

test('an unsupported request type answers UNSUPP', async (t) => {
  const d = await disk(t);
  const r = await d.request([{ out: header(11, 0) }, { in: 1 }]);
  assert.equal(r.status, VIRTIO_BLK_S_UNSUPP);
});

test('a read-only disk offers RO, refuses writes with IOERR and stays unchanged', async (t) => {
  const d = await disk(t, { readOnly: true });
  assert.equal(
    d.h.driver.read(VIRTIO_PCI_HOST_FEATURES, 4) & (1 << VIRTIO_BLK_F_RO),
    1 << VIRTIO_BLK_F_RO,
  );
  const before = await fileHash(d.path);
  const w = await d.request([
    { out: header(VIRTIO_BLK_T_OUT, 0) },
    { out: pattern(512, 9) },
    { in: 1 },
  ]);
  assert.equal(w.status, VIRTIO_BLK_S_IOERR);
  const r = await d.request([{ out: header(VIRTIO_BLK_T_IN, 0) }, { in: 512 }, { in: 1 }]);
  assert.equal(r.status, VIRTIO_BLK_S_OK, 'reads work');
  assert.equal(await fileHash(d.path), before);
});

test('a reset while a read is in flight: its late completion touches nothing', async (t) => {
  const d = await disk(t);
  await d.request([{ out: header(VIRTIO_BLK_T_OUT, 0) }, { out: pattern(4096, 5) }, { in: 1 }]);
  const sub = d.h.driver.submit(0, [{ out: header(VIRTIO_BLK_T_IN, 0) }, { in: 4096 }, { in: 1 }]);
  d.h.driver.write(VIRTIO_PCI_STATUS, 1, 0);
  const before = d.h.memory.view(0, d.h.memory.size).slice();
  await d.image.close(); // waits for the read in flight
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(d.h.memory.view(0, d.h.memory.size), before, 'guest memory unchanged');
  assert.equal(d.h.intx(), false, 'no interrupt');
  assert.ok(sub.parts.length === 3);
});

test('saveState with a read in flight: the restored device does the read again', async (t) => {
  const a = await disk(t);
  const data = pattern(2048, 11);
  await a.request([{ out: header(VIRTIO_BLK_T_OUT, 4) }, { out: data }, { in: 1 }]);
  a.h.driver.read(VIRTIO_PCI_ISR, 1);
  const sub = a.h.driver.submit(0, [{ out: header(VIRTIO_BLK_T_IN, 4) }, { in: 2048 }, { in: 1 }]);
  const saved = structuredClone(a.h.transport.saveState());
  const b = makeHarness(new VirtioBlk({ name: 'vioblk0', image: a.image }), 4 * MIB);
  b.memory.write(0, a.h.memory.view(0, a.h.memory.size));
  b.transport.loadState(saved);
  await until(
    () => b.driver.read(VIRTIO_PCI_ISR, 1) !== 0 || b.transport.broken,
    'the restored read',
  );
  b.driver.adoptQueue(0, RING_PFN, { availIdx: 2, nextDesc: 6 });
  assert.equal(b.driver.usedIndex(0), 2);
  const part = sub.parts[1];
  assert.ok(part !== undefined);
  assert.deepEqual(b.driver.bytes(part.gpa, 2048), data);
  await until(() => a.h.driver.usedIndex(0) === 2, 'the original read');
});

test('a request too short for its header or status breaks the device cleanly', async (t) => {
  const d = await disk(t);
  const before = d.h.memory.view(0, d.h.memory.size).slice();
  d.h.driver.submit(0, [{ out: new Uint8Array(8) }, { in: 1 }]);
  assert.equal(d.h.transport.broken, true, 'an 8-byte header');
  d.h.driver.start(ALL_FEATURES, [{ index: 0, pfn: RING_PFN }]);
  d.h.driver.submit(0, [{ out: header(VIRTIO_BLK_T_IN, 0) }]);
  assert.equal(d.h.transport.broken, true, 'no writable status byte');
  const changed = d.h.memory
    .view(0, d.h.memory.size)
    .findIndex((b, i) => b !== before[i] && (i < 0x10000 || i >= 0x80000 + 64));
  assert.equal(changed, -1, 'no byte outside the rings and the new buffers changed');
});
