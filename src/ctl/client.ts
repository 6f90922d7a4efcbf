/**
 * vmctl's side of the control socket: one connection to vmd, requests sent with their own
 * frame ids, and each request's replies (a reply carries its request's id) handed out in
 * order. A message with id 0 is about the connection as a whole (vmd refusing the client),
 * so every request waiting sees it.
 */

import { createConnection, type Socket } from 'node:net';
import { ProtocolError } from '../daemon/frame.js';
import type { Message } from '../daemon/messages.js';
import { Peer } from '../daemon/peer.js';
import { CtlFailure, fatal, fatalErrno } from './errors.js';

/** The replies to one request. */
interface Pending {
  queue: Message[];
  wake: (() => void) | null;
}

/** A connection to vmd's control socket. */
export class ControlClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended = false;

  private constructor(
    private readonly prog: string,
    private readonly peer: Peer,
  ) {
    void this.dispatch();
  }

  /**
   * Connects to the socket at `path`; fails as vmctl does (`connect: /run/vmd.sock: No such
   * file or directory`).
   */
  static async connect(prog: string, path: string): Promise<ControlClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ path });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', reject);
    }).catch((error: unknown) => {
      throw fatalErrno(prog, `connect: ${path}`, error);
    });
    // The error that ends the connection is reported by next(), not logged.
    const peer = new Peer(socket, { name: 'vmd', onError: () => undefined });
    return new ControlClient(prog, peer);
  }

  /** Sends `message` as a new request; returns its id, for {@link next}. */
  send(message: Message): number {
    const id = this.nextId++;
    this.pending.set(id, { queue: [], wake: null });
    this.peer.send(message, id);
    return id;
  }

  /**
   * The next reply to request `id`. When the connection ends first, fails as vmctl does:
   * `pipe closed`, or what went wrong with the connection.
   */
  async next(id: number): Promise<Message> {
    const pending = this.pending.get(id);
    if (pending === undefined) throw new Error(`no request ${id} is waiting for replies`);
    for (;;) {
      const message = pending.queue.shift();
      if (message !== undefined) return message;
      if (this.ended) throw this.endedFailure();
      await new Promise<void>((resolve) => (pending.wake = resolve));
    }
  }

  /** Stops waiting for replies to request `id`. */
  forget(id: number): void {
    this.pending.delete(id);
  }

  /** Closes the connection. */
  close(): void {
    this.peer.close();
  }

  private async dispatch(): Promise<void> {
    for await (const { id, message } of this.peer) {
      const targets = id === 0 ? [...this.pending.values()] : [this.pending.get(id)];
      for (const pending of targets) {
        if (pending === undefined) continue;
        pending.queue.push(message);
        this.wake(pending);
      }
    }
    this.ended = true;
    for (const pending of this.pending.values()) this.wake(pending);
  }

  private wake(pending: Pending): void {
    const wake = pending.wake;
    pending.wake = null;
    wake?.();
  }

  private endedFailure(): CtlFailure {
    const error = this.peer.error;
    if (error === null) return fatal(this.prog, 'pipe closed');
    if (error instanceof ProtocolError) return fatal(this.prog, `protocol error: ${error.message}`);
    return fatalErrno(this.prog, 'read error', error);
  }
}
