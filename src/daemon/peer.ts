/**
 * One connection that speaks the control protocol: a byte stream (a unix socket, a pipe to a
 * VM process) with the frame decoder and the message codec on it. Messages come out of an
 * async iterator in the order they arrived; `send` writes one.
 *
 * Bad input ends the connection, never the process: on a {@link ProtocolError} the peer
 * reports it, answers `fail` with EPROTO as a courtesy, drops what it had not delivered yet,
 * and closes. Socket errors (a client
 * that went away) end it the same way. Reading pauses while more than `highWaterMark`
 * messages wait to be taken, so a fast sender cannot fill this process's memory.
 */

import type { Duplex } from 'node:stream';
import { log } from '../common/log.js';
import { ERRNO } from './codes.js';
import { decodeEnvelope, encodeMessage, type Envelope } from './codec.js';
import { DEFAULT_MAX_PAYLOAD, FrameDecoder, printable, ProtocolError } from './frame.js';
import type { Message } from './messages.js';

/** Options of {@link Peer}. */
export interface PeerOptions {
  /** The largest payload accepted and sent; {@link DEFAULT_MAX_PAYLOAD} by default. */
  maxPayload?: number;
  /** What log lines call this connection (`control: client 3`); `peer` by default. */
  name?: string;
  /** How many received messages may wait to be taken before reading pauses; 64 by default. */
  highWaterMark?: number;
  /** How long {@link Peer.close} lets the other side finish before destroying; 1000 ms. */
  closeTimeoutMs?: number;
  /**
   * Called once with the error that ended the connection: a {@link ProtocolError} or a socket
   * error. By default socket errors (a client that went away) are logged at debug level and
   * the others as warnings.
   */
  onError?: (error: Error) => void;
}

/** A message stream over one connection. */
export class Peer implements AsyncIterable<Envelope> {
  /** Settles (never rejects) when the connection has closed: with the error that ended it. */
  readonly closed: Promise<Error | null>;
  private readonly decoder: FrameDecoder;
  private readonly name: string;
  private readonly highWaterMark: number;
  private readonly closeTimeoutMs: number;
  private readonly onError: ((error: Error) => void) | undefined;
  private readonly queue: Envelope[] = [];
  private wake: (() => void) | null = null;
  private reading = false;
  private paused = false;
  /** No more messages will arrive (end of stream, an error, or close()). */
  private ended = false;
  /** Nothing more may be sent. */
  private shut = false;
  private failure: Error | null = null;

  /**
   * Takes over `socket`: its data, end, error and close events belong to this peer from now
   * on. The socket must be in binary mode (no encoding set).
   */
  constructor(
    private readonly socket: Duplex,
    options: PeerOptions = {},
  ) {
    this.decoder = new FrameDecoder({ maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD });
    this.name = options.name ?? 'peer';
    this.highWaterMark = Math.max(1, options.highWaterMark ?? 64);
    this.closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.onError = options.onError;
    this.closed = new Promise((resolve) => {
      const onClose = (): void => {
        this.shut = true;
        this.finish();
        resolve(this.failure);
      };
      if (socket.closed) onClose();
      else socket.once('close', onClose);
    });
    socket.on('data', (chunk: Buffer | string) => {
      this.receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    });
    socket.on('end', () => {
      this.endOfStream();
    });
    socket.on('error', (error: Error) => {
      this.fail(error, true);
    });
  }

  /** False once the connection is closing: {@link send} then writes nothing. */
  get isOpen(): boolean {
    return !this.shut;
  }

  /** Messages received and not yet taken by the reader. */
  get pending(): number {
    return this.queue.length;
  }

  /** The error that ended the connection, or null. */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * Sends `message` in a frame with request id `id`. Returns false when the connection is
   * closing (nothing is written) or the socket's buffer is full (the frame is queued; wait for
   * its `drain`). Throws a {@link ProtocolError} for a message that fails its own checks.
   */
  send(message: Message, id = 0): boolean {
    const frame = encodeMessage(message, id, this.decoder.maxPayload);
    // After the other side's end, Node has ended this side too (no half-open sockets).
    if (this.shut || !this.socket.writable) return false;
    return this.socket.write(frame);
  }

  /** Ends the connection gently: pending writes go out, then the socket is closed. */
  close(): void {
    this.ended = true;
    this.queue.length = 0;
    this.wakeReader();
    this.shutdown();
  }

  /**
   * The received messages, in order, until the connection ends. There is one reader: a second
   * concurrent iteration throws. Leaving the loop early does not close the connection.
   */
  async *messages(): AsyncGenerator<Envelope, void, undefined> {
    if (this.reading) throw new Error(`${this.name}: messages() already has a reader`);
    this.reading = true;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) {
          this.resumeIfDrained();
          yield next;
        } else if (this.ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } finally {
      this.reading = false;
    }
  }

  /** {@link messages}, so that `for await (const { id, message } of peer)` works. */
  [Symbol.asyncIterator](): AsyncGenerator<Envelope, void, undefined> {
    return this.messages();
  }

  private receive(chunk: Uint8Array): void {
    if (this.ended) return;
    try {
      this.decoder.push(chunk, (frame) => {
        this.queue.push(decodeEnvelope(frame));
      });
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.wakeReader();
    if (this.queue.length >= this.highWaterMark && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private endOfStream(): void {
    if (this.ended) return;
    try {
      this.decoder.end();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.finish();
  }

  /** The connection is over for reading: the reader takes what is queued, then stops. */
  private finish(): void {
    this.ended = true;
    this.wakeReader();
  }

  private resumeIfDrained(): void {
    if (this.paused && this.queue.length <= this.highWaterMark / 2) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /**
   * Ends the connection because of `error`: report it once, tell the peer, close. Messages
   * not yet taken are dropped: nothing more from this connection is trusted, and no reply
   * could be sent on it.
   */
  private fail(error: Error, fromSocket = false): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.queue.length = 0;
    this.finish();
    try {
      if (this.onError !== undefined) this.onError(error);
      else this.report(error, fromSocket);
      if (error instanceof ProtocolError && !this.shut && this.socket.writable) {
        // A courtesy to a confused client; the frame is small and goes out before the end.
        const detail = printable(error.message);
        this.socket.write(encodeMessage({ type: 'fail', error: ERRNO.EPROTO, detail }));
      }
    } catch (hookError) {
      // This runs in a socket event: nothing may escape, or it would end the process.
      log.warn('%s: %s', this.name, hookError instanceof Error ? hookError.message : hookError);
    }
    this.shutdown();
  }

  /** Half-closes, then destroys the socket if the other side has not closed in time. */
  private shutdown(): void {
    if (this.shut) return;
    this.shut = true;
    this.socket.end();
    // Keep reading (and dropping) so the other side is not blocked on a full socket.
    this.paused = false;
    this.socket.resume();
    const timer = setTimeout(() => this.socket.destroy(), this.closeTimeoutMs);
    timer.unref();
    this.socket.once('close', () => {
      clearTimeout(timer);
    });
  }

  private report(error: Error, fromSocket: boolean): void {
    if (fromSocket) log.debug('%s: %s', this.name, error.message);
    else log.warn('%s: %s', this.name, error.message);
  }
}
