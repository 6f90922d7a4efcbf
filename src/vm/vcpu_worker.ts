/**
 * The vCPU thread of a VM process (a `worker_thread` started by vcpu_thread.ts): it owns the
 * machine — guest memory, the engine and the chips the guest touches — and runs the guest
 * until it stops, as vmd's `vcpu-0` thread does. Between run slices it takes what the main
 * thread asked for through the shared block (vcpu_channel.ts) and posts the slice's console
 * output in one message.
 *
 * Nothing the guest does ends this thread by an exception: a machine that cannot be built is
 * reported as `failed`, and every way the guest can stop, including an error inside the
 * machine, as `stopped`.
 */

import { constants } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { initLog, log, setVerbosity } from '../common/log.js';
import { Machine, MachineConfigError, type MachineStop } from './machine.js';
import {
  VcpuControl,
  type VcpuMessage,
  type VcpuStop,
  type VcpuWorkerData,
} from './vcpu_channel.js';

/** errno values by name, as the host numbers them (Linux's, which codes.ts also uses). */
const ERRNO: Readonly<Record<string, number>> = constants.errno;

/** Console output gathered over run slices, posted as one message. */
class OutputBatch {
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  constructor(private readonly port: MessagePort) {}

  push(data: Uint8Array): void {
    // The UART hands over a buffer of its own; it is ours to keep.
    this.#chunks.push(data);
    this.#bytes += data.length;
  }

  flush(): void {
    if (this.#bytes === 0) return;
    const data = new Uint8Array(this.#bytes);
    let at = 0;
    for (const chunk of this.#chunks) {
      data.set(chunk, at);
      at += chunk.length;
    }
    this.#chunks = [];
    this.#bytes = 0;
    const message: VcpuMessage = { type: 'output', data };
    this.port.postMessage(message, [data.buffer]);
  }
}

/** The errno a failure to build the machine is reported with. */
function buildFailure(error: unknown): { result: number; detail: string } {
  const detail = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const errno = typeof code === 'string' ? ERRNO[code] : undefined;
  if (errno !== undefined) return { result: errno, detail };
  if (error instanceof MachineConfigError) return { result: ERRNO.EINVAL ?? 22, detail };
  return { result: ERRNO.EIO ?? 5, detail: `internal error: ${detail}` };
}

function describeStop(stop: MachineStop): VcpuStop {
  return stop.kind === 'debug-exit'
    ? { kind: stop.kind, detail: `debug exit with code ${stop.code}`, code: stop.code }
    : { kind: stop.kind, detail: stop.detail, code: null };
}

async function main(port: MessagePort, data: VcpuWorkerData): Promise<void> {
  const post = (message: VcpuMessage): void => {
    port.postMessage(message);
  };
  // Log lines go through the main thread, so they come out in order with its own and none is
  // lost when the process exits right after this thread.
  initLog(data.logName, {
    sink: (line) => {
      post({ type: 'log', line });
    },
  });
  setVerbosity(data.verbosity);
  const control = new VcpuControl(data.control);
  const output = new OutputBatch(port);
  let verbosity = data.verbosity;

  /** Between slices: output out, requests in. May park the vCPU for a pause. */
  const service = (machine: Machine): void => {
    output.flush();
    if (control.verbosity() !== verbosity) {
      verbosity = control.verbosity();
      setVerbosity(verbosity);
    }
    const input = control.readInput();
    if (input !== undefined) machine.sendInput(input);
    if (control.takeShutdown()) {
      if (machine.platform.i8042.pressCtrlAltDel()) {
        log.verbose('shutdown requested: Ctrl-Alt-Delete pressed');
      } else {
        // vmd stops a guest at once when it has no driver to ask (no vmmci).
        log.info('shutdown requested, but the guest has no keyboard driver: stopping it');
        machine.stop();
      }
    }
    if (control.stopRequested()) {
      machine.stop();
      return;
    }
    if (control.pauseRequested()) {
      machine.pauseClock();
      post({ type: 'paused' });
      control.waitWhilePaused();
      machine.resumeClock();
      if (control.stopRequested()) machine.stop();
      else post({ type: 'resumed' });
    }
  };

  let machine: Machine;
  try {
    const { machine: spec } = data;
    machine = await Machine.create({
      memorySize: spec.memorySize,
      kernel: spec.kernel,
      ...(spec.initrd === null ? {} : { initrd: spec.initrd }),
      ...(spec.cmdline === null ? {} : { cmdline: spec.cmdline }),
      disks: spec.disks,
      ...(spec.files === null ? {} : { files: spec.files }),
      console: {
        write: (bytes) => {
          output.push(bytes);
        },
      },
      wake: control.wake,
      onSlice: service,
    });
  } catch (error) {
    post({ type: 'failed', ...buildFailure(error) });
    return;
  }
  const ram = machine.vm.memory.bytes;
  post({ type: 'running', ram: ram.buffer instanceof SharedArrayBuffer ? ram : null });
  let stop: VcpuStop;
  try {
    // runAsync: the guest runs in slices as with run(), and between them this thread's event
    // loop turns, which completes the work devices hand to it (disk requests).
    stop = describeStop(await machine.runAsync());
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    stop = { kind: 'fault', detail: `internal error: ${detail}`, code: null };
  }
  output.flush();
  post({ type: 'stopped', stop });
}

if (parentPort === null) {
  process.stderr.write('vcpu_worker: must be started as a worker thread\n');
  process.exitCode = 1;
} else {
  const port = parentPort;
  main(port, workerData as VcpuWorkerData).catch((error: unknown) => {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    const message: VcpuMessage = {
      type: 'stopped',
      stop: { kind: 'fault', detail: `internal error: ${detail}`, code: null },
    };
    port.postMessage(message);
  });
}
