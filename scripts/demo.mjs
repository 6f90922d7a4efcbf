// Sets up and starts vmd with a sample vm.conf, and boots Debian's kernel (a busybox
// initramfs, a qcow2 disk) with the console on this terminal through `vmctl start -c`.
// Everything lives under .cache/demo: vm.conf, the disk, the socket. Detach with `~.` at the
// start of a line; vmd then stops the VM and exits.
// Usage: node scripts/demo.mjs
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vmd = join(root, 'dist/src/bin/vmd.js');
const vmctl = join(root, 'dist/src/bin/vmctl.js');
const dir = join(root, '.cache/demo');
mkdirSync(dir, { recursive: true });

const { prepareGuestImage } = await import(join(root, 'dist/src/images/guest_image.js'));
const image = await prepareGuestImage({});

const env = { ...process.env, VMD_SOCKET: join(dir, 'vmd.sock') };
const disk = join(dir, 'debian.qcow2');
if (!existsSync(disk)) {
  const made = spawnSync(process.execPath, [vmctl, 'create', '-s', '1G', disk], {
    env,
    stdio: 'inherit',
  });
  if (made.status !== 0) process.exit(1);
}

const config = join(dir, 'vm.conf');
writeFileSync(
  config,
  `# A sample vm.conf: Debian's kernel with a busybox initramfs and a 1 GiB qcow2 disk.
vm "debian" {
\tdisable
\tmemory 256M
\tboot "${image.kernel.path}"
\tinitrd "${image.initramfs.path}"
\tcmdline "console=ttyS0"
\tdisk "${disk}"
}
`,
);

const daemon = spawn(process.execPath, [vmd, '-d', '-f', config], {
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});
const daemonExit = new Promise((resolve) => daemon.on('exit', resolve));
for (let tries = 0; !existsSync(env.VMD_SOCKET); tries++) {
  if (tries > 100 || daemon.exitCode !== null) {
    console.error('demo: vmd did not start');
    process.exit(1);
  }
  await sleep(100);
}

console.error('demo: vmd is running; starting "debian" with its console here (leave with ~.)');
const console_ = spawn(process.execPath, [vmctl, 'start', '-c', 'debian'], {
  env,
  stdio: 'inherit',
});
const status = await new Promise((resolve) => console_.on('exit', (code) => resolve(code ?? 1)));
daemon.kill('SIGTERM');
await daemonExit;
process.exitCode = status;
