import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { GUEST_MODULES, selectModules } from './kernel_modules.js';
import { ModulesDepError, formatModulesDep } from './modules_dep.js';
import { assembleModule } from './testing.js';

const RELEASE = '6.1.0-test-amd64';
const VERMAGIC = `${RELEASE} SMP preempt mod_unload modversions`;
const HAVE_ZSTD = spawnSync('zstd', ['--version']).status === 0;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The same bytes as a plain Uint8Array (a Buffer is not deep-equal to one). */
function u8(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** The virtio modules as Debian 12 has them: name, path in the tree, depends=. */
const TREE: readonly [string, string, string[]][] = [
  ['virtio_ring', 'kernel/drivers/virtio/virtio_ring.ko', []],
  ['virtio', 'kernel/drivers/virtio/virtio.ko', ['virtio_ring']],
  ['virtio_pci_legacy_dev', 'kernel/drivers/virtio/virtio_pci_legacy_dev.ko', []],
  ['virtio_pci_modern_dev', 'kernel/drivers/virtio/virtio_pci_modern_dev.ko', []],
  [
    'virtio_pci',
    'kernel/drivers/virtio/virtio_pci.ko',
    ['virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio'],
  ],
  ['virtio_blk', 'kernel/drivers/block/virtio_blk.ko', ['virtio', 'virtio_ring']],
  ['virtio_rng', 'kernel/drivers/char/hw_random/virtio-rng.ko', ['virtio', 'virtio_ring']],
  ['virtio_net', 'kernel/drivers/net/virtio_net.ko', ['virtio', 'virtio_ring', 'net_failover']],
  ['net_failover', 'kernel/drivers/net/net_failover.ko', []],
];

/**
 * A `/lib/modules/RELEASE` tree of stand-in modules; `compress` picks, by name, the modules
 * stored compressed and how. Returns the folder and each module's plain bytes by name.
 */
function makeTree(
  compress: Readonly<Record<string, 'xz' | 'zst' | 'gz'>> = {},
  vermagic = VERMAGIC,
): { dir: string; plain: Map<string, Uint8Array> } {
  const dir = join(mkdtempSync(join(tmpdir(), 'vmd-modules-')), RELEASE);
  dirs.push(dirname(dir));
  const plain = new Map<string, Uint8Array>();
  for (const [name, path, depends] of TREE) {
    const ko = assembleModule({ name, depends, vermagic });
    plain.set(name, ko);
    const how = compress[name];
    const file = join(dir, how === undefined ? path : `${path}.${how}`);
    mkdirSync(dirname(file), { recursive: true });
    if (how === 'gz') writeFileSync(file, gzipSync(ko));
    else if (how === undefined) writeFileSync(file, ko);
    else writeFileSync(file, execFileSync(how === 'xz' ? 'xz' : 'zstd', ['-c'], { input: ko }));
  }
  return { dir, plain };
}

describe('the guest modules', () => {
  test('are virtio_pci, virtio_blk and virtio_rng', () => {
    assert.deepEqual(GUEST_MODULES, ['virtio_pci', 'virtio_blk', 'virtio_rng']);
  });

  test('without modules.dep: chosen by depends= with their dependencies, in load order', async () => {
    const { dir, plain } = makeTree();
    const selection = await selectModules(dir, GUEST_MODULES);
    assert.equal(selection.release, RELEASE);
    assert.deepEqual(
      selection.modules.map((m) => m.name),
      // Dependencies in the order depends= names them.
      [
        'virtio_ring',
        'virtio_pci_modern_dev',
        'virtio_pci_legacy_dev',
        'virtio',
        'virtio_pci',
        'virtio_blk',
        'virtio_rng',
      ],
    );
    for (const m of selection.modules) assert.deepEqual(u8(m.data), plain.get(m.name), m.name);
    assert.equal(
      formatModulesDep(selection.modulesDep),
      [
        'kernel/drivers/virtio/virtio_ring.ko:',
        'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
        'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
        'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko ' +
          'kernel/drivers/virtio/virtio_pci_legacy_dev.ko ' +
          'kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko ' +
          'kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko ' +
          'kernel/drivers/virtio/virtio_ring.ko',
        '',
      ].join('\n'),
    );
  });

  test('compressed with xz, zstd or gzip: decompressed, paths without the suffix', async () => {
    const { dir, plain } = makeTree({
      virtio: 'xz',
      virtio_blk: 'gz',
      ...(HAVE_ZSTD ? { virtio_pci: 'zst' as const } : {}),
    });
    const selection = await selectModules(dir, GUEST_MODULES);
    for (const m of selection.modules) {
      assert.deepEqual(u8(m.data), plain.get(m.name), `${m.name} comes out as the plain object`);
      assert.match(m.path, /\.ko$/);
    }
    assert.deepEqual(selection.modulesDep.get('kernel/drivers/block/virtio_blk.ko'), [
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_ring.ko',
    ]);
  });

  test('with modules.dep: its dependencies count, not depends=', async () => {
    const { dir } = makeTree({ virtio_ring: 'xz' });
    writeFileSync(
      join(dir, 'modules.dep'),
      [
        'kernel/drivers/virtio/virtio_ring.ko.xz:',
        // Made up, to tell the two sources apart: virtio needs net_failover.
        'kernel/drivers/virtio/virtio.ko: kernel/drivers/net/net_failover.ko ' +
          'kernel/drivers/virtio/virtio_ring.ko.xz',
        'kernel/drivers/net/net_failover.ko:',
        'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko',
        '',
      ].join('\n'),
    );
    const selection = await selectModules(dir, ['virtio_blk']);
    assert.deepEqual(
      selection.modules.map((m) => m.path),
      [
        'kernel/drivers/virtio/virtio_ring.ko',
        'kernel/drivers/net/net_failover.ko',
        'kernel/drivers/virtio/virtio.ko',
        'kernel/drivers/block/virtio_blk.ko',
      ],
    );
  });

  test('reports a missing module, a missing dependency and a module of another kernel', async () => {
    const { dir } = makeTree();
    await assert.rejects(
      selectModules(dir, ['virtio_scsi']),
      (e: unknown) =>
        e instanceof ModulesDepError && / no module named virtio_scsi$/.test(e.message),
    );
    rmSync(join(dir, 'kernel/drivers/net/net_failover.ko'));
    await assert.rejects(
      selectModules(dir, ['virtio_net']),
      (e: unknown) =>
        e instanceof ModulesDepError &&
        / no module named net_failover \(needed by kernel\/drivers\/net\/virtio_net\.ko\)$/.test(
          e.message,
        ),
    );
    const other = makeTree({}, '6.1.0-other-amd64 SMP');
    await assert.rejects(
      selectModules(other.dir, ['virtio_ring']),
      (e: unknown) =>
        e instanceof ModulesDepError &&
        /virtio_ring\.ko: built for 6\.1\.0-other-amd64, not 6\.1\.0-test-amd64$/.test(e.message),
    );
  });
});
