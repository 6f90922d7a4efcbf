/**
 * The test guest's process 1, two busybox sh scripts:
 *
 * - `/init`, run by the kernel: mounts the kernel's file systems, has Ctrl-Alt-Del signal
 *   process 1, loads the kernel modules dependencies first, prints the markers tests wait
 *   for, then becomes
 * - `/etc/vmd/supervise.sh`, still process 1: it keeps handlers for the signals init receives
 *   (SIGINT is Ctrl-Alt-Del) and powers the guest off cleanly on them, and runs the console's
 *   interactive shell as a job, starting another when it exits.
 *
 * Why a job with job control: a non-interactive shell waiting for a command in the foreground
 * runs a trap only once the command ends, while the `wait` builtin returns as soon as a
 * trapped signal arrives, so the shell must run in the background. But without job control an
 * asynchronous command starts with SIGINT and SIGQUIT ignored (POSIX, Shell Command Language
 * 2.11), which the shell it starts cannot undo, and ^C would do nothing. With job control (for
 * which process 1 needs the console as its controlling terminal) jobs keep their signals.
 */

/** The line `/init` prints first, followed by ", kernel " and the kernel release. */
export const GUEST_INIT_MARKER = 'vmd-guest: init reached';

/** The line process 1 prints each time it starts the interactive shell on the console. */
export const GUEST_SHELL_MARKER = 'vmd-guest: shell ready';

/**
 * The start of the line process 1 prints when a signal tells it to stop the guest, followed
 * by e.g. ` (poweroff on SIGINT)`; it then syncs and powers off, halts or reboots.
 */
export const GUEST_SHUTDOWN_MARKER = 'vmd-guest: shutdown';

/** The start of the line `/init` prints for a module that insmod could not load. */
export const GUEST_MODULE_FAILURE = 'vmd-guest: module not loaded:';

/** Where the supervisor script lives in the image. */
export const SUPERVISOR_PATH = 'etc/vmd/supervise.sh';

/**
 * `/init` for a kernel of `release` that loads `modules` (paths relative to
 * `/lib/modules/RELEASE`) in the order given, which must be a load order. Kernel command-line
 * words `key=value` the kernel does not know arrive as environment variables;
 * `vmd_action=poweroff` or `vmd_action=reboot` ends the VM after the first marker.
 */
export function initScript(release: string, modules: readonly string[]): string {
  for (const path of [release, ...modules]) {
    if (!/^[\w.+/-]+$/.test(path)) throw new Error(`unsafe path in /init: "${path}"`);
  }
  const list = modules.map((m) => `  ${m}`).join(' \\\n');
  return `#!/bin/sh
# /init of the vmd test guest: mount the kernel's file systems, load the kernel modules, say
# so on the console, then carry on as /${SUPERVISOR_PATH}, still process 1, which gives the
# console a shell (or power off or reboot, if vmd_action= says so).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev || echo "vmd-guest: devtmpfs not mounted, keeping the static /dev"
echo "${GUEST_INIT_MARKER}, kernel $(uname -r)"
# Ctrl-Alt-Del signals process 1 (SIGINT) instead of rebooting at once, as every init asks
# (reboot(2), LINUX_REBOOT_CMD_CAD_OFF; the kernel's default is the immediate reboot).
echo 0 >/proc/sys/kernel/ctrl-alt-del
# Dependencies first, as modules.dep orders them; a module that fails is reported, no more.
for module in${modules.length === 0 ? '' : ` \\\n${list}`}; do
  insmod "/lib/modules/${release}/$module" || echo "${GUEST_MODULE_FAILURE} $module"
done
case "$vmd_action" in
  poweroff) poweroff -f ;;
  reboot) reboot -f ;;
esac
# setsid + cttyhack: process 1 leads a session with the console as its controlling terminal,
# which the supervisor's job control needs.
exec setsid cttyhack sh /${SUPERVISOR_PATH}
`;
}

/** `/etc/vmd/supervise.sh`, process 1 after `/init` (see the file's comment above). */
export const SUPERVISOR_SCRIPT = `#!/bin/sh
# Process 1 of the vmd test guest after /init: it keeps handlers for the signals init gets
# and runs the console's shell as a job, starting another when it exits.
#   SIGINT   Ctrl-Alt-Del (Linux signals init, as /init asked): power off
#   SIGUSR2  busybox poweroff; SIGUSR1 busybox halt; SIGTERM busybox reboot
export PATH=/bin
vmd_shutdown() {
  # Job control off first: with it, each command would try to take the console, which the
  # shell's session holds now, and fail.
  set +m
  # Through the kernel log, which reaches the console before the CPU stops (the serial line's
  # buffer would not be sent).
  echo "${GUEST_SHUTDOWN_MARKER} ($1 on $2)" >/dev/kmsg
  sync
  "$1" -f
}
trap 'vmd_shutdown poweroff SIGINT' INT
trap 'vmd_shutdown poweroff SIGUSR2' USR2
trap 'vmd_shutdown halt SIGUSR1' USR1
trap 'vmd_shutdown reboot SIGTERM' TERM
# Without job control the job would start with SIGINT ignored, and ^C would do nothing.
set -m
# When the console's shell exits, Linux hangs up the files open on its terminal (the end of a
# session that had one); those opened as /dev/console are spared, so write there.
exec </dev/null >/dev/console 2>&1
while :; do
  echo "${GUEST_SHELL_MARKER}"
  # The subshell forks setsid, which then needs no fork of its own (a job's first process
  # leads a process group, and setsid cannot make a session there); setsid + cttyhack give
  # the shell a session of its own with the console as its controlling terminal.
  (setsid cttyhack sh; exit $?) &
  shell=$!
  # wait returns early when a trapped signal arrives; the trap then powers off.
  while kill -0 "$shell" 2>/dev/null; do wait "$shell"; done
  echo "vmd-guest: the console's shell ended, starting another"
done
`;
