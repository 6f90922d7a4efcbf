/**
 * Debian's kernel through the VM process, as vmd runs it: booted from a VmSpec, its shell
 * reached through the pty the process reports. On the way it proves the 8042: Linux finds the
 * keyboard controller and its keyboard, `vm-shutdown`'s Ctrl-Alt-Delete reaches the kernel,
 * and the kernel's restart through the controller's reset pulse ends the VM as a reboot.
 * One boot; it takes a while on the software engine.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ERRNO } from '../../src/daemon/codes.js';
import { GUEST_SHELL_MARKER } from '../../src/images/initramfs.js';
import { debianGuest, withoutApt } from '../images/debian_guest.js';
import { testSpec, VmUnderTest } from './vm_harness.js';

/** Generous: a slow CI machine at a fraction of the engine's speed still boots well inside. */
const BOOT_TIMEOUT_MS = 15 * 60_000;
const COMMAND_TIMEOUT_MS = 120_000;

let vm: VmUnderTest | undefined;

after(async () => {
  await vm?.dispose();
});

test(
  'Debian boots in a VM process, sees the 8042, and reboots on vm-shutdown',
  { skip: withoutApt() },
  async () => {
    const image = await debianGuest();
    const process = new VmUnderTest();
    vm = process;
    process.send({
      type: 'vm-create',
      spec: testSpec({
        name: 'debian',
        memory: 256 * 1024 * 1024,
        boot: image.kernel.path,
        initrd: image.initramfs.path,
        cmdline: 'console=ttyS0 panic=-1',
      }),
    });
    const { message: start } = await process.expect('start-vm-response', BOOT_TIMEOUT_MS);
    assert.equal(start.result, 0, process.context());
    process.attach(start.tty ?? '');
    await process.waitForOutput(new RegExp(GUEST_SHELL_MARKER), 0, BOOT_TIMEOUT_MS);

    // The typed command line comes back as its echo; the patterns only match the output.
    let from = process.output.length;
    process.type('dmesg | grep i8042\n');
    await process.waitForOutput(
      /serio: i8042 KBD port at 0x60,0x64 irq 1/,
      from,
      COMMAND_TIMEOUT_MS,
    );
    await process.waitForOutput(/input: AT Translated Set 2 keyboard/, from, COMMAND_TIMEOUT_MS);
    assert.doesNotMatch(
      process.output.slice(from),
      /i8042: Can't read CTR|Keylock active|AUX port at/,
    );

    // The kernel's own Ctrl-Alt-Delete action (restart at once), whatever /init chose.
    from = process.output.length;
    process.type('echo 1 > /proc/sys/kernel/ctrl-alt-del; echo cad-$((40+2))\n');
    await process.waitForOutput(/cad-42/, from, COMMAND_TIMEOUT_MS);

    from = process.output.length;
    process.send({ type: 'vm-shutdown' });
    await process.expect('vm-reboot', COMMAND_TIMEOUT_MS);
    const { message } = await process.expect('terminate-vm-event');
    assert.equal(message.result, ERRNO.EAGAIN, process.context());
    // The console stays open a moment after the guest stopped, for its last lines.
    await process.waitForOutput(/reboot: Restarting system/, from);
    assert.deepEqual(await process.exit(), { code: ERRNO.EAGAIN, signal: null });
    assert.match(process.log, /guest rebooted: i8042 reset pulse/, process.context());
  },
);
