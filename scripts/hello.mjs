// Builds the hello test guest and boots it with vmd-run, its console on this terminal.
// The guest ends through the debug-exit port with code 85; anything else is a failure.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { buildGuest } = await import(join(root, 'dist/tests/guests/build_guest.js'));
const kernel = await buildGuest('hello');
const r = spawnSync(process.execPath, [join(root, 'dist/src/bin/vmd_run.js'), kernel], {
  stdio: 'inherit',
});
const expected = 85;
if (r.status === expected) {
  console.log(`vmd-run: the guest exited with code ${r.status}, as it should`);
} else {
  console.error(`vmd-run: expected the guest's exit code ${expected}, got ${r.status ?? r.signal}`);
  process.exit(1);
}
