import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ModulesDepError,
  formatModulesDep,
  isModuleFile,
  loadOrder,
  moduleNameOf,
  parseModulesDep,
  transitiveModulesDep,
} from './modules_dep.js';

const V = 'kernel/drivers/virtio';
/** Lines as depmod writes them for Debian 12's virtio modules (dependencies transitive). */
const DEBIAN_VIRTIO = `${V}/virtio_ring.ko:
${V}/virtio.ko: ${V}/virtio_ring.ko
${V}/virtio_pci_legacy_dev.ko:
${V}/virtio_pci_modern_dev.ko:
kernel/drivers/block/virtio_blk.ko: ${V}/virtio.ko ${V}/virtio_ring.ko
kernel/drivers/char/hw_random/virtio-rng.ko: ${V}/virtio.ko ${V}/virtio_ring.ko
${V}/virtio_pci.ko: ${V}/virtio_pci_modern_dev.ko ${V}/virtio_pci_legacy_dev.ko ${V}/virtio.ko ${V}/virtio_ring.ko
kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko ${V}/virtio.ko ${V}/virtio_ring.ko
kernel/fs/fuse/fuse.ko:
`;

/** Asserts that every module of `order` comes after all it depends on in `dep`. */
function assertLoadable(order: readonly string[], dep: ReadonlyMap<string, readonly string[]>) {
  for (const [i, path] of order.entries()) {
    for (const d of dep.get(path) ?? []) {
      const at = order.indexOf(d);
      assert.ok(at >= 0 && at < i, `${d} must load before ${path}; order: ${order.join(', ')}`);
    }
  }
}

describe('module names', () => {
  test('come from the file name, with "-" as "_" and no compression suffix', () => {
    assert.equal(moduleNameOf('kernel/drivers/char/hw_random/virtio-rng.ko'), 'virtio_rng');
    assert.equal(moduleNameOf('kernel/drivers/virtio/virtio_pci.ko.xz'), 'virtio_pci');
    assert.equal(moduleNameOf('virtio_blk.ko.zst'), 'virtio_blk');
    assert.equal(moduleNameOf('a/b/c-d-e.ko.gz'), 'c_d_e');
    assert.ok(isModuleFile('x.ko') && isModuleFile('x.ko.xz') && !isModuleFile('x.ko.bz2'));
    assert.ok(!isModuleFile('modules.dep') && !isModuleFile('x.kox'));
  });
});

describe('modules.dep', () => {
  test('parses each module with its dependencies and writes the same text back', () => {
    const dep = parseModulesDep(DEBIAN_VIRTIO, 'modules.dep');
    assert.equal(dep.size, 9);
    assert.deepEqual(dep.get(`${V}/virtio_ring.ko`), []);
    assert.deepEqual(dep.get('kernel/drivers/block/virtio_blk.ko'), [
      `${V}/virtio.ko`,
      `${V}/virtio_ring.ko`,
    ]);
    assert.equal(formatModulesDep(dep), DEBIAN_VIRTIO);
  });

  test('skips blank lines and comments, and tolerates extra spaces', () => {
    const dep = parseModulesDep(
      '# made by hand\n\n  a.ko:   b.ko  c.ko.xz \nb.ko:\r\nc.ko.xz:\n',
      'm',
    );
    assert.deepEqual(
      [...dep],
      [
        ['a.ko', ['b.ko', 'c.ko.xz']],
        ['b.ko', []],
        ['c.ko.xz', []],
      ],
    );
  });

  test('rejects malformed lines, naming the file and line', () => {
    const cases: [string, RegExp][] = [
      ['a.ko: b.ko\nno colon here\n', /^m\.dep:2: expected "module\.ko: dependencies"$/],
      [': b.ko\n', /^m\.dep:1: expected/],
      ['a.ko: b.txt\n', /^m\.dep:1: "b\.txt" is not a module file$/],
      ['a.ko:\nb.ko:\na.ko: b.ko\n', /^m\.dep:3: a\.ko is listed twice$/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseModulesDep(text, 'm.dep'),
        (e: unknown) => e instanceof ModulesDepError && message.test(e.message),
        `expected ${String(message)} for ${JSON.stringify(text)}`,
      );
    }
  });
});

describe('load order', () => {
  const dep = parseModulesDep(DEBIAN_VIRTIO, 'modules.dep');

  test('puts every module after its dependencies, and takes only what is needed', () => {
    const order = loadOrder(dep, ['virtio_pci', 'virtio_blk', 'virtio_rng'], 'modules.dep');
    assert.deepEqual(order, [
      `${V}/virtio_ring.ko`,
      `${V}/virtio.ko`,
      `${V}/virtio_pci_legacy_dev.ko`,
      `${V}/virtio_pci_modern_dev.ko`,
      `${V}/virtio_pci.ko`,
      'kernel/drivers/block/virtio_blk.ko',
      'kernel/drivers/char/hw_random/virtio-rng.ko',
    ]);
    assertLoadable(order, dep);
  });

  test('follows dependencies through lines that list only direct ones', () => {
    const direct = parseModulesDep('d.ko: c.ko\nc.ko: b.ko\nb.ko: a.ko\na.ko:\n', 'm');
    assert.deepEqual(loadOrder(direct, ['d'], 'm'), ['a.ko', 'b.ko', 'c.ko', 'd.ko']);
    // Asked for twice, or as a dependency of something asked for before: loaded once.
    assert.deepEqual(loadOrder(direct, ['b', 'd', 'a', 'b'], 'm'), [
      'a.ko',
      'b.ko',
      'c.ko',
      'd.ko',
    ]);
  });

  test('accepts names written with "-", as modprobe does', () => {
    assert.deepEqual(loadOrder(dep, ['virtio-ring'], 'modules.dep'), [`${V}/virtio_ring.ko`]);
  });

  test('reports unknown modules, dependencies without a line, cycles and duplicate names', () => {
    const cases: [string, string[], RegExp][] = [
      [DEBIAN_VIRTIO, ['virtio_net'], /^m: no module named virtio_net$/],
      ['a.ko: b.ko\n', ['a'], /^m: a\.ko depends on b\.ko, which has no line$/],
      ['a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\n', ['a'], /^m: dependency cycle a -> b -> c -> a$/],
      ['x/a.ko:\ny/a.ko.xz:\n', ['a'], /^m: module a is both x\/a\.ko and y\/a\.ko\.xz$/],
    ];
    for (const [text, wanted, message] of cases) {
      assert.throws(
        () => loadOrder(parseModulesDep(text, 'm'), wanted, 'm'),
        (e: unknown) => e instanceof ModulesDepError && message.test(e.message),
        `expected ${String(message)}`,
      );
    }
  });
});

describe('modules.dep for a subset', () => {
  test('lists dependencies transitively, the one loaded first last, as depmod does', () => {
    const direct = new Map([
      ['virtio_ring.ko', []],
      ['virtio.ko', ['virtio_ring.ko']],
      ['legacy.ko', []],
      ['virtio_pci.ko', ['legacy.ko', 'virtio.ko']],
    ]);
    const order = ['virtio_ring.ko', 'virtio.ko', 'legacy.ko', 'virtio_pci.ko'];
    const dep = transitiveModulesDep(direct, order);
    assert.deepEqual(dep.get('virtio_pci.ko'), ['legacy.ko', 'virtio.ko', 'virtio_ring.ko']);
    assert.deepEqual(dep.get('virtio.ko'), ['virtio_ring.ko']);
    assert.deepEqual([...dep.keys()], order);
    // Read back, it gives the same order.
    const text = formatModulesDep(dep);
    assert.deepEqual(loadOrder(parseModulesDep(text, 'm'), ['virtio_pci'], 'm'), order);
  });
});
