// Boots Debian's stock kernel with a busybox initramfs on the VMM, the console attached to
// this terminal: the guest images come from Debian's packages (npm run guest-image, cached),
// and vmd-run runs them. Leave with `~.` at the start of a line, or `poweroff -f` in the guest.
// Usage: node scripts/debian_guest.mjs [vmd-run options...]
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { prepareGuestImage } = await import(join(root, 'dist/src/images/guest_image.js'));
const image = await prepareGuestImage({});
const args = [
  join(root, 'dist/src/bin/vmd_run.js'),
  '-m',
  '256M',
  '-i',
  image.initramfs.path,
  '-c',
  'console=ttyS0 panic=-1',
  ...process.argv.slice(2),
  image.kernel.path,
];
const child = spawn(process.execPath, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal === null ? 1 : 128);
});
