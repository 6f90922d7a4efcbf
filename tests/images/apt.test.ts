import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AptError,
  debFileName,
  kernelImageDependency,
  packageFromStanza,
  parseDeb822,
} from '../../src/images/apt.js';
import type { AptPackage } from '../../src/images/apt.js';

// Abridged from `apt-cache show --no-all-versions linux-image-amd64 busybox-static`.
const SHOW = `Package: linux-image-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Architecture: amd64
Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)
Size: 1480
SHA256: 45457BCFC86C87585800B5656BDF2773B063A3BB95486B0E820D51E870491F8D

Package: busybox-static
Version: 1:1.35.0-4+deb12u1+b1
Architecture: amd64
Tag: admin::recovery, interface::shell, role::program, scope::utility,
 use::login, works-with::file
Size: 928188
SHA256: 3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
`;

function pkg(fields: Partial<AptPackage>): AptPackage {
  return {
    name: 'p',
    version: '1',
    architecture: 'amd64',
    size: 1,
    sha256: '0'.repeat(64),
    depends: '',
    ...fields,
  };
}

describe('apt records', () => {
  test('parseDeb822() splits stanzas and joins continuation lines', () => {
    const stanzas = parseDeb822(SHOW);
    assert.equal(stanzas.length, 2);
    assert.equal(stanzas[0]?.Package, 'linux-image-amd64');
    assert.equal(stanzas[1]?.Version, '1:1.35.0-4+deb12u1+b1');
    assert.equal(
      stanzas[1].Tag,
      'admin::recovery, interface::shell, role::program, scope::utility,\nuse::login, works-with::file',
    );
  });

  test('packageFromStanza() takes name, version, size and a lower-case SHA-256', () => {
    const [meta] = parseDeb822(SHOW);
    assert.deepEqual(packageFromStanza(meta ?? {}, 'linux-image-amd64'), {
      name: 'linux-image-amd64',
      version: '6.1.192-2',
      architecture: 'amd64',
      size: 1480,
      sha256: '45457bcfc86c87585800b5656bdf2773b063a3bb95486b0e820d51e870491f8d',
      depends: 'linux-image-6.1.0-56-amd64 (= 6.1.192-2)',
    });
    assert.throws(
      () => packageFromStanza({ Package: 'x' }, 'x'),
      /^AptError: x: apt-cache show gave no Size field$/,
    );
    assert.throws(
      () => packageFromStanza({ ...meta, SHA256: 'abc' }, 'x'),
      (e: unknown) => e instanceof AptError && /bad SHA256 "abc"/.test(e.message),
    );
  });

  test('kernelImageDependency() finds the linux-image package among the dependencies', () => {
    assert.equal(
      kernelImageDependency(pkg({ depends: 'linux-image-6.1.0-56-amd64 (= 6.1.192-2)' })),
      'linux-image-6.1.0-56-amd64',
    );
    assert.equal(
      kernelImageDependency(
        pkg({
          depends: 'initramfs-tools | linux-initramfs-tool, linux-image-6.12.0-1-amd64:amd64',
        }),
      ),
      'linux-image-6.12.0-1-amd64',
    );
    assert.throws(
      () => kernelImageDependency(pkg({ name: 'm', version: '2', depends: 'kmod' })),
      /^AptError: m 2 depends on no linux-image package$/,
    );
  });

  test('debFileName() names files as apt-get download does, epoch colon as %3a', () => {
    assert.equal(
      debFileName(pkg({ name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1' })),
      'busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb',
    );
  });
});
