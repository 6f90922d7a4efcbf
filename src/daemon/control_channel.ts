/**
 * The parent's side of the control process: it starts `control_main.js` with the channel on
 * fd 3, waits for its `ok` (the socket is made) or its `fail`, then hands every request to the
 * parent and carries the replies back with the request's id.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { log } from '../common/log.js';
import { resultText } from './codes.js';
import type { Envelope } from './codec.js';
import type { Message } from './messages.js';
import { Peer } from './peer.js';

const CONTROL_MAIN = fileURLToPath(new URL('./control_main.js', import.meta.url));

/** Options of {@link ControlProcess.start}. */
export interface ControlProcessOptions {
  /** The control socket's path. */
  socketPath: string;
  /** The log verbosity. */
  verbosity: number;
}

/** A running control process. */
export class ControlProcess {
  /** Settles when the control process has exited, with its exit code (null after a signal). */
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly peer: Peer,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else
        child.once('exit', (code) => {
          resolve(code);
        });
    });
  }

  /**
   * Starts the control process and waits until its socket listens. Throws with the control
   * process's reason when it cannot make the socket.
   */
  static async start(options: ControlProcessOptions): Promise<ControlProcess> {
    const child = spawn(
      process.execPath,
      [CONTROL_MAIN, '--socket', options.socketPath, '--verbosity', String(options.verbosity)],
      // Its own process group: a terminal's ^C is for the parent, which stops it in order.
      { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], detached: true },
    );
    child.on('error', (error) => {
      log.warn('control process: %s', error);
    });
    const channel = child.stdio[3] as Socket | null;
    if (channel === null) throw new Error('control process: no channel');
    const peer = new Peer(channel, { name: 'control process' });
    const control = new ControlProcess(child, peer);
    const messages = peer.messages();
    const first = await messages.next();
    // Let go of the reader: requests() takes over from here.
    await messages.return();
    if (first.done === true) {
      const code = await control.exited;
      throw new Error(`control process exited (status ${code ?? 'signal'}) before it was ready`);
    }
    const { message } = first.value;
    if (message.type !== 'ok') {
      const reason =
        message.type === 'fail' ? (message.detail ?? resultText(message.error)) : message.type;
      peer.close();
      throw new Error(`control process: ${reason}`);
    }
    return control;
  }

  /** The control process's pid. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The requests from clients, in order, until the control process goes. */
  requests(): AsyncGenerator<Envelope, void, undefined> {
    return this.peer.messages();
  }

  /** Sends a reply (with its request's id) or news for every client (id 0). */
  send(message: Message, id: number): void {
    try {
      this.peer.send(message, id);
    } catch (error) {
      log.warn('vmd: cannot send %s to the control process: %s', message.type, error);
    }
  }

  /** Closes the channel, which ends the control process, and waits until it has exited. */
  async stop(): Promise<void> {
    this.peer.close();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
