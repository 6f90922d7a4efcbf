/**
 * The VM process: one per running VM, forked by the vmd parent as vmd forks `vm/NAME`
 * processes. Both ends of its channel live here: {@link spawnVmProcess} for the parent,
 * {@link runVmProcess} for the child (src/bin/vmd_vm.ts).
 *
 * The child's main thread owns the framed channel to the parent (fd 3, messages.ts) and the
 * console pty; the guest runs on a vCPU worker thread (vcpu_thread.ts) that owns the machine.
 * The conversation, after vmd's vm.c:
 *
 * - parent: `vm-create {spec}`; child: `start-vm-response` with result 0, its pid and the
 *   console's path once the guest runs, or with an error (and a log line), then it exits;
 *   the console is the pty the spec names, inherited from the parent (which keeps it across
 *   reboots), or one the child opens when the spec names none;
 * - while the guest runs, `vm-memory {bytes}` whenever the guest RAM resident in the process
 *   has changed, looked at every two seconds (the parent's CURMEM);
 * - `pause-vm` / `unpause-vm`: the vCPU parks (its virtual clock stopped) or goes on, then
 *   `pause-vm-response` / `unpause-vm-response` (0 also when it already was, as vmd answers;
 *   ESRCH when the guest stopped first);
 * - `vm-shutdown`: Ctrl-Alt-Delete on the guest's keyboard (a paused guest is resumed first);
 *   a guest with no keyboard driver is stopped at once, as vmd stops one without a vmmci driver (the parent times out the rest);
 * - `verbose {level}`: the log level of both threads;
 * - when the guest stops: `vm-reboot` if it reset itself, then `terminate-vm-event` with 0
 *   (halt or power-off), EAGAIN (reboot: triple fault, 8042 reset, reset control register) or
 *   EFAULT (a fault the machine could not deliver), and the process exits with that status;
 * - the channel closing (the parent died) stops the guest and ends the process.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { errnoOf } from '../common/errno.js';
import { getVerbosity, initLog, log, setVerbosity } from '../common/log.js';
import { ERRNO, VMD_ERRORS } from '../daemon/codes.js';
import type { Envelope } from '../daemon/codec.js';
import type { VmResult, VmSpec } from '../daemon/messages.js';
import { Peer } from '../daemon/peer.js';
import { ResidentMemory } from '../sys/residency.js';
import { dropPrivileges } from './privileges.js';
import { PtyConsole } from './pty_console.js';
import type { VcpuStop } from './vcpu_channel.js';
import { VcpuThread } from './vcpu_thread.js';

/** The descriptor of the channel to the parent in the VM process. */
export const VM_CHANNEL_FD = 3;
/** The VM process's descriptor of the first one {@link SpawnVmOptions.inherit} hands over. */
export const VM_FIRST_INHERITED_FD = 4;
/** The VM process's program, beside this module once compiled: dist/src/bin/vmd_vm.js. */
export const VM_PROCESS_ENTRY = fileURLToPath(new URL('../bin/vmd_vm.js', import.meta.url));
/** EFAULT, the result of a guest fault (vmd's answer to a guest it cannot go on running). */
export const GUEST_FAULT = constants.errno.EFAULT;
/** How long the child waits for its last messages to leave before it exits anyway. */
const CLOSE_TIMEOUT_MS = 1000;
/**
 * How long the console stays open after the guest stopped. Closing a pty's master hangs up its
 * slave and throws away what a client has not read yet: the guest's last words (Linux's
 * "reboot: Restarting system") would be lost to `vmctl console` without this moment.
 */
const CONSOLE_LINGER_MS = 250;
/**
 * How often the guest RAM resident in the process is measured for the parent's CURMEM. A
 * measurement is one mincore(2) over RAM (about 1.5 ms for 512 MiB in use, 12 ms for 4 GiB);
 * it is sent only when it changed.
 */
const MEMORY_REPORT_MS = 2000;

/** Options of {@link spawnVmProcess}. */
export interface SpawnVmOptions {
  /** The child's stderr (its log): the parent's own by default, or a pipe to read. */
  stderr?: 'inherit' | 'pipe';
  /**
   * Descriptors of the parent the child inherits, in order as its descriptors
   * {@link VM_FIRST_INHERITED_FD}, 5, and so on (the console pty's ends, say): the spec
   * names them by those numbers. The parent keeps its own.
   */
  inherit?: readonly number[];
}

/** A VM process as the parent sees it: the child and the framed channel on its fd 3. */
export interface SpawnedVmProcess {
  child: ChildProcess;
  peer: Peer;
}

/**
 * Starts a VM process (`node dist/src/bin/vmd_vm.js`, stdio ignore/inherit/inherit/pipe, then
 * the inherited descriptors). Send it `vm-create` first. Spawn failures surface as the
 * child's `error` event.
 */
export function spawnVmProcess(options: SpawnVmOptions = {}): SpawnedVmProcess {
  const child = spawn(process.execPath, [VM_PROCESS_ENTRY], {
    stdio: ['ignore', 'inherit', options.stderr ?? 'inherit', 'pipe', ...(options.inherit ?? [])],
  });
  const channel = child.stdio[VM_CHANNEL_FD] as Duplex | null | undefined;
  if (channel === null || channel === undefined) {
    child.kill('SIGKILL');
    throw new Error('the VM process has no channel on its descriptor 3');
  }
  const peer = new Peer(channel, { name: `vm process ${child.pid ?? '(not started)'}` });
  return { child, peer };
}

/**
 * The VM process's life: reads `vm-create`, runs the VM, reports how it ended. Resolves with
 * the exit status (0, an errno value, or 1 for a vmd code too large for a status) once the
 * last message to the parent has left; the caller exits with it.
 */
export async function runVmProcess(fd = VM_CHANNEL_FD): Promise<number> {
  initLog('vm');
  // The parent decides when its VMs stop: a ^C at its terminal reaches this process group too.
  process.on('SIGINT', () => {
    log.debug('SIGINT ignored: the parent stops the VM');
  });
  const socket = new Socket({ fd, readable: true, writable: true });
  const peer = new Peer(socket, { name: 'channel to the parent' });
  const messages = peer.messages();
  let status: number;
  try {
    const first = await messages.next();
    if (first.done === true) {
      log.debug('the parent closed the channel before sending a VM');
      status = 0;
    } else if (first.value.message.type !== 'vm-create') {
      log.warn('expected vm-create from the parent, got %s', first.value.message.type);
      status = ERRNO.EPROTO;
    } else {
      status = await new VmProcess(first.value.message.spec, peer).run(messages);
    }
  } finally {
    await closeChannel(peer, socket);
  }
  return status;
}

/** Ends the channel and waits (a bounded time) until what was sent has left. */
async function closeChannel(peer: Peer, socket: Socket): Promise<void> {
  const sent = new Promise<void>((resolve) => {
    if (socket.destroyed || socket.writableFinished) resolve();
    socket.once('finish', resolve);
    socket.once('close', resolve);
  });
  peer.close();
  await Promise.race([sent, delay(CLOSE_TIMEOUT_MS, undefined, { ref: false })]);
}

/** A start that could not happen: the result for `start-vm-response` and the log line. */
interface StartFailure {
  result: number;
  detail: string;
}

/** The exit status for a result: the result itself, or 1 for one no status can hold. */
function exitStatus(result: number): number {
  return result >= 0 && result <= 255 ? result : 1;
}

/** One VM, from its spec to its end. */
class VmProcess {
  readonly #spec: VmSpec;
  readonly #peer: Peer;
  #console: PtyConsole | null = null;
  #thread: VcpuThread | null = null;
  #memoryTimer: NodeJS.Timeout | null = null;

  constructor(spec: VmSpec, peer: Peer) {
    this.#spec = spec;
    this.#peer = peer;
    initLog(`vm/${spec.name}`);
  }

  /** The fields of every answer about this VM. */
  #result(result: number): VmResult {
    return { result, vmId: this.#spec.vmId, pid: process.pid, tty: this.#console?.path ?? null };
  }

  /** Runs the VM until its guest stops or the parent goes; returns the exit status. */
  async run(messages: AsyncGenerator<Envelope>): Promise<number> {
    try {
      const failure = (await this.#check()) ?? this.#openConsole() ?? (await this.#start());
      if (failure !== null) {
        log.warn('%s', failure.detail);
        this.#peer.send({ type: 'start-vm-response', ...this.#result(failure.result), tty: null });
        return exitStatus(failure.result);
      }
      const thread = this.#thread;
      if (thread === null) throw new Error('the vCPU thread is missing after a start');
      // Kernel, initrd, disks and console are open: root is no longer needed.
      log.verbose('running as uid %d', dropPrivileges());
      this.#peer.send({ type: 'start-vm-response', ...this.#result(0) });
      log.verbose('running, console %s', this.#console?.path);
      this.#reportMemory(thread);
      const outcome = await Promise.race([
        thread.stopped,
        this.#serve(messages, thread).then(() => null),
      ]);
      if (outcome === null) {
        log.info('the parent went away: stopping the guest');
        thread.stop();
        await thread.stopped;
        return 0;
      }
      const result = this.#report(outcome);
      await delay(CONSOLE_LINGER_MS);
      return exitStatus(result);
    } finally {
      if (this.#memoryTimer !== null) clearInterval(this.#memoryTimer);
      this.#console?.close();
    }
  }

  /** What vmd refuses before building anything (config.c, vm.c). */
  async #check(): Promise<StartFailure | null> {
    const spec = this.#spec;
    if (spec.vcpus !== 1) {
      return { result: ERRNO.EINVAL, detail: `${spec.vcpus} vcpus asked for; only 1 is supported` };
    }
    if (spec.boot === null) {
      // No BIOS yet: vmd's answer when it cannot open its BIOS image.
      return {
        result: VMD_ERRORS.VMD_BIOS_MISSING,
        detail: 'no kernel to boot, and booting from a BIOS image is not supported yet',
      };
    }
    const files: [string, string][] = [['kernel or BIOS boot image', spec.boot]];
    if (spec.initrd !== null) files.push(['initrd', spec.initrd]);
    // Files the parent opened are checked already; the machine reads them by their descriptors.
    for (const [what, path] of spec.files === null ? files : []) {
      try {
        await access(path, fsConstants.R_OK);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return {
          result: errnoOf(error) ?? ERRNO.EIO,
          detail: `can't open ${what} ${path}: ${reason}`,
        };
      }
    }
    if (spec.interfaces.length > 0 || spec.cdrom !== null) {
      log.debug('interfaces and cdrom are not attached to the guest yet');
    }
    return null;
  }

  #openConsole(): StartFailure | null {
    const inherited = this.#spec.console;
    try {
      this.#console = inherited === null ? PtyConsole.open() : PtyConsole.adopt(inherited);
      return null;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const what = inherited === null ? 'open a console pty' : `use the console ${inherited.path}`;
      return { result: errnoOf(error) ?? ERRNO.EIO, detail: `can't ${what}: ${reason}` };
    }
  }

  /**
   * Tells the parent how much guest RAM is resident now, and again whenever that changed
   * (vmd's `vir_used_size`). mincore(2) over RAM counts the pages the guest (or its loader)
   * touched: pages never touched were never faulted in. It reads no guest memory, unlike a
   * scan for non-zero pages, and counts only RAM, unlike the process's RSS, which holds
   * Node's own heap and code too.
   */
  #reportMemory(thread: VcpuThread): void {
    const ram = thread.guestRam;
    if (ram === null) {
      log.debug('guest RAM is not shared memory: its use is not reported');
      return;
    }
    let last = -1;
    let resident: ResidentMemory | null = null;
    const report = (): void => {
      let bytes: number;
      try {
        resident ??= new ResidentMemory(ram);
        bytes = Math.min(resident.bytes(), this.#spec.memory);
      } catch (error) {
        // The guest runs on; vmctl shows what it last heard (0 at first).
        const reason = error instanceof Error ? error.message : String(error);
        log.warn('cannot measure the guest memory in use: %s', reason);
        if (this.#memoryTimer !== null) clearInterval(this.#memoryTimer);
        return;
      }
      if (bytes === last) return;
      last = bytes;
      this.#peer.send({ type: 'vm-memory', bytes });
    };
    this.#memoryTimer = setInterval(report, MEMORY_REPORT_MS);
    // The guest and the channel keep the process alive, not this report.
    this.#memoryTimer.unref();
    report();
  }

  /** Starts the vCPU thread and waits until the guest runs or the machine fails to build. */
  async #start(): Promise<StartFailure | null> {
    const spec = this.#spec;
    const console = this.#console;
    if (console === null || spec.boot === null) throw new Error('start before check');
    const thread = VcpuThread.start({
      data: {
        logName: `vm/${spec.name}`,
        verbosity: getVerbosity(),
        machine: {
          memorySize: spec.memory,
          kernel: spec.boot,
          initrd: spec.initrd,
          cmdline: spec.cmdline,
          disks: spec.disks.map(({ path, format }) => ({ path, format })),
          files: spec.files,
        },
      },
      onOutput: (bytes) => {
        console.write(bytes);
      },
    });
    console.onInput((bytes) => {
      thread.sendInput(bytes);
    });
    this.#thread = thread;
    const started = await thread.started;
    if (started.ok) return null;
    return { result: started.result, detail: `can't start the guest: ${started.detail}` };
  }

  /** Answers the parent's requests until the channel ends. */
  async #serve(messages: AsyncGenerator<Envelope>, thread: VcpuThread): Promise<void> {
    for await (const { id, message } of messages) {
      switch (message.type) {
        case 'pause-vm':
        case 'unpause-vm': {
          const pause = message.type === 'pause-vm';
          const done = await thread.setPaused(pause);
          if (done) log.verbose(pause ? 'paused' : 'unpaused');
          const result = this.#result(done ? 0 : ERRNO.ESRCH);
          if (pause) this.#peer.send({ type: 'pause-vm-response', ...result }, id);
          else this.#peer.send({ type: 'unpause-vm-response', ...result }, id);
          break;
        }
        case 'vm-shutdown':
          log.verbose('shutdown requested');
          // A paused guest could not answer: it runs again to shut down.
          if (thread.paused) await thread.setPaused(false);
          thread.requestShutdown();
          break;
        case 'verbose':
          setVerbosity(message.level);
          thread.setVerbosity(message.level);
          break;
        default:
          log.warn('unexpected %s from the parent, ignored', message.type);
      }
    }
  }

  /** Tells the parent how the guest ended; returns the result. */
  #report(stop: VcpuStop): number {
    const firstLine = stop.detail.split('\n', 1)[0] ?? '';
    let result: number;
    switch (stop.kind) {
      case 'shutdown':
        log.info('guest rebooted: %s', firstLine);
        result = ERRNO.EAGAIN;
        break;
      case 'fault':
        log.warn('guest stopped on a fault: %s', stop.detail);
        result = GUEST_FAULT;
        break;
      case 'halted':
        log.info('guest halted: %s', firstLine);
        result = 0;
        break;
      default:
        log.info('guest stopped: %s', firstLine);
        result = 0;
    }
    if (stop.kind !== 'fault') log.debug('%s', stop.detail);
    if (result === ERRNO.EAGAIN) this.#peer.send({ type: 'vm-reboot' });
    this.#peer.send({ type: 'terminate-vm-event', ...this.#result(result) });
    return result;
  }
}
