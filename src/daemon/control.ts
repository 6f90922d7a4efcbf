/**
 * The control process's work (vmd's control.c): it owns the unix socket that vmctl connects
 * to, reads each client's uid from the kernel (SO_PEERCRED), refuses what a client other than
 * root may not ask for, stamps each request with the client's uid, passes it to the parent
 * with an id of its own, and routes the parent's replies back by that id. Clients waiting for
 * a VM to stop (`vmctl wait`, `stop -w`) are kept on a notify list, and the parent's
 * `terminate-vm-event` goes to each of them (control.c's `ctl_notify`).
 *
 * Nothing a client sends ends this process: a bad frame or message closes that connection
 * only (peer.ts). The number of connections, of requests in flight on each and of waits are
 * capped, so that one client cannot take the others' share.
 */

import type { Socket } from 'node:net';
import { log } from '../common/log.js';
import { peerCredentials } from '../sys/peercred.js';
import { ERRNO } from './codes.js';
import type { Envelope } from './codec.js';
import {
  CLIENT_REQUESTS,
  UNPRIVILEGED_REQUESTS,
  type Message,
  type MessageType,
} from './messages.js';
import { Peer } from './peer.js';

/** The limits of {@link ControlRouter}. */
export interface ControlLimits {
  /** Connections at once. */
  maxConnections: number;
  /** Connections at once from one unprivileged uid. */
  maxPerUser: number;
  /** Requests of one connection waiting for the parent's answer. */
  maxInFlight: number;
  /** VMs one connection waits for (`vmctl wait`, `stop -w`). */
  maxWaits: number;
}

/** The default limits. */
export const DEFAULT_CONTROL_LIMITS: ControlLimits = {
  maxConnections: 128,
  maxPerUser: 32,
  maxInFlight: 8,
  maxWaits: 16,
};

/** One client connection. */
interface Connection {
  readonly number: number;
  readonly peer: Peer;
  readonly uid: number;
  readonly privileged: boolean;
  inFlight: number;
  /** Wakes the reader when a request of this connection finishes. */
  slotFreed: (() => void) | null;
  /** VMs waited for: vm id and the client's request id. */
  readonly waits: { vmId: number; clientId: number }[];
  open: boolean;
}

/** A request passed to the parent and not answered for good yet. */
interface PendingRequest {
  readonly connection: Connection;
  readonly clientId: number;
  readonly type: MessageType;
  /** `stop -w`: the client also wants the VM's end. */
  readonly wait: boolean;
}

/** Who a socket's client is: the uid from SO_PEERCRED. */
export type CredentialReader = (socket: Socket) => { uid: number };

/** Options of {@link ControlRouter}. */
export interface ControlRouterOptions {
  /** The channel to the parent. */
  parent: Peer;
  /** True for the uids that may send everything: root, and a private vmd's own user. */
  privileged: (uid: number) => boolean;
  /** The limits; {@link DEFAULT_CONTROL_LIMITS} by default. */
  limits?: Partial<ControlLimits>;
  /** Reads a client's credentials; SO_PEERCRED by default. */
  credentials?: CredentialReader;
}

/** The largest frame id; ids toward the parent count from 1 and wrap. */
const MAX_ID = 0xffffffff;

/** Routes requests between client connections and the parent. */
export class ControlRouter {
  private readonly limits: ControlLimits;
  private readonly connections = new Set<Connection>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly credentials: CredentialReader;
  private lastId = 0;
  private connectionCount = 0;

  constructor(private readonly options: ControlRouterOptions) {
    this.limits = { ...DEFAULT_CONTROL_LIMITS, ...options.limits };
    this.credentials = options.credentials ?? peerCredentials;
  }

  /** Client connections open now. */
  get connectionsOpen(): number {
    return this.connections.size;
  }

  /** Takes a new client connection: checks its credentials and the limits, then serves it. */
  accept(socket: Socket): void {
    const number = ++this.connectionCount;
    let uid: number;
    try {
      uid = this.credentials(socket).uid;
    } catch (error) {
      log.warn('client %d: cannot read its credentials: %s', number, error);
      socket.destroy();
      return;
    }
    const privileged = this.options.privileged(uid);
    const peer = new Peer(socket, { name: `client ${number} (uid ${uid})` });
    const refusal = this.refusal(uid, privileged);
    if (refusal !== null) {
      log.warn('client %d (uid %d) refused: %s', number, uid, refusal);
      peer.send({ type: 'fail', error: ERRNO.EBUSY, detail: refusal });
      peer.close();
      return;
    }
    const connection: Connection = {
      number,
      peer,
      uid,
      privileged,
      inFlight: 0,
      slotFreed: null,
      waits: [],
      open: true,
    };
    this.connections.add(connection);
    // A client that goes away wakes its reader, whatever it was waiting for.
    void peer.closed.then(() => connection.slotFreed?.());
    log.debug('client %d connected, uid %d', number, uid);
    void this.serve(connection).finally(() => {
      connection.open = false;
      connection.slotFreed?.();
      this.connections.delete(connection);
      log.debug('client %d gone', number);
    });
  }

  /** Why a new connection of `uid` is refused, or null. */
  private refusal(uid: number, privileged: boolean): string | null {
    if (this.connections.size >= this.limits.maxConnections && !privileged) {
      return 'too many connections';
    }
    // Privileged clients may exceed the shared cap by as much again, so that root always gets in.
    if (this.connections.size >= 2 * this.limits.maxConnections) return 'too many connections';
    if (privileged) return null;
    let mine = 0;
    for (const c of this.connections) if (c.uid === uid) mine++;
    return mine >= this.limits.maxPerUser ? 'too many connections from this user' : null;
  }

  /** Reads one client's requests until it goes or misbehaves. */
  private async serve(connection: Connection): Promise<void> {
    for await (const { id, message } of connection.peer) {
      if (!this.admit(connection, id, message)) {
        connection.peer.close();
        break;
      }
      while (connection.inFlight >= this.limits.maxInFlight && connection.peer.isOpen) {
        await new Promise<void>((resolve) => (connection.slotFreed = resolve));
        connection.slotFreed = null;
      }
      if (!connection.peer.isOpen) break;
      this.forward(connection, id, message);
    }
    // The client has said all it will (it may have shut down its side only, as `echo | nc`
    // does): its requests and waits are answered, then the connection is closed.
    while (connection.peer.isOpen && (connection.inFlight > 0 || connection.waits.length > 0)) {
      await new Promise<void>((resolve) => (connection.slotFreed = resolve));
      connection.slotFreed = null;
    }
    connection.peer.close();
    await connection.peer.closed;
  }

  /**
   * control.c's checks: a message vmctl may send, and for a client other than root one of
   * UNPRIVILEGED_REQUESTS. A refused client gets `fail` and loses its connection.
   */
  private admit(connection: Connection, id: number, message: Message): boolean {
    const refuse = (error: number, detail: string): boolean => {
      log.warn('client %d (uid %d): %s', connection.number, connection.uid, detail);
      this.reply(connection, { type: 'fail', error, detail }, id);
      return false;
    };
    if (!CLIENT_REQUESTS.has(message.type)) {
      return refuse(ERRNO.EPROTO, `unexpected message ${message.type}`);
    }
    if (!connection.privileged && !UNPRIVILEGED_REQUESTS.has(message.type)) {
      return refuse(ERRNO.EPERM, `${message.type} is for root only`);
    }
    return true;
  }

  /** Passes a request to the parent with the client's uid and an id of this process. */
  private forward(connection: Connection, clientId: number, message: Message): void {
    const wait =
      message.type === 'wait-vm-request' ||
      (message.type === 'terminate-vm-request' && message.wait);
    if (wait && connection.waits.length >= this.limits.maxWaits) {
      this.reply(
        connection,
        { type: 'fail', error: ERRNO.EBUSY, detail: 'too many waits' },
        clientId,
      );
      return;
    }
    // Whatever uid the client wrote, the kernel's word replaces it (control.c).
    const stamped = 'uid' in message ? { ...message, uid: connection.uid } : message;
    const id = this.nextId();
    this.pending.set(id, { connection, clientId, type: message.type, wait });
    connection.inFlight++;
    try {
      if (!this.options.parent.send(stamped, id) && !this.options.parent.isOpen) {
        throw new Error('the parent has gone');
      }
    } catch (error) {
      this.finish(id);
      this.reply(connection, { type: 'fail', error: ERRNO.EIO, detail: String(error) }, clientId);
    }
  }

  /** A free id for a request to the parent. */
  private nextId(): number {
    do {
      this.lastId = this.lastId >= MAX_ID ? 1 : this.lastId + 1;
    } while (this.pending.has(this.lastId));
    return this.lastId;
  }

  /** The parent's message: a reply to a request, or (id 0) news for every client. */
  fromParent({ id, message }: Envelope): void {
    if (id === 0) {
      if (message.type === 'terminate-vm-event') this.notifyWaiters(message);
      return;
    }
    const request = this.pending.get(id);
    if (request === undefined) {
      log.debug('reply %s to unknown request %d', message.type, id);
      return;
    }
    const { connection, clientId } = request;
    if (message.type === 'get-info-vm-data') {
      this.reply(connection, message, clientId);
      return;
    }
    this.finish(id);
    if (message.type === 'terminate-vm-response' && request.wait && message.result === 0) {
      if (message.vmId !== null) connection.waits.push({ vmId: message.vmId, clientId });
      // `vmctl wait` is answered by the VM's end alone; `stop -w` hears both.
      if (request.type === 'wait-vm-request') return;
    }
    this.reply(connection, message, clientId);
  }

  /** A VM has stopped: tell every client waiting for it. */
  private notifyWaiters(event: Extract<Message, { type: 'terminate-vm-event' }>): void {
    for (const connection of this.connections) {
      for (let i = connection.waits.length - 1; i >= 0; i--) {
        const wait = connection.waits[i];
        if (wait === undefined || wait.vmId !== event.vmId) continue;
        connection.waits.splice(i, 1);
        this.reply(connection, event, wait.clientId);
        connection.slotFreed?.();
      }
    }
  }

  /** The request `id` is answered for good: its slot is free again. */
  private finish(id: number): void {
    const request = this.pending.get(id);
    if (request === undefined) return;
    this.pending.delete(id);
    request.connection.inFlight--;
    request.connection.slotFreed?.();
  }

  private reply(connection: Connection, message: Message, id: number): void {
    if (!connection.open) return;
    try {
      connection.peer.send(message, id);
    } catch (error) {
      log.warn('client %d: cannot send %s: %s', connection.number, message.type, error);
    }
  }

  /** Closes every client connection. */
  closeAll(): void {
    for (const connection of this.connections) connection.peer.close();
  }
}
