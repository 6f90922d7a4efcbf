/**
 * The VM's serial console on a pseudo-terminal, as vmd attaches COM1 to a tty (vmd(8)):
 * guest output goes to the pty's master, and whoever opens the slave (`vmctl console`, cu(1),
 * screen(1)) reads it and types into it. Clients come and go; the console outlives them.
 *
 * The pty is the process's own ({@link PtyConsole.open}), or the one the vmd parent keeps for
 * the VM across reboots and hands to each of its processes ({@link PtyConsole.adopt}).
 *
 * The console keeps its own descriptor of the slave open for its whole life. Without it the
 * master would see a hang-up (EIO) whenever the last client detached, and output written
 * while nobody is attached would be thrown away; with it, that output waits in the kernel's
 * queue of the pty for the next client.
 *
 * Writing never blocks the VM and never fails: the master is non-blocking, and what the pty
 * cannot take now waits in a bounded ring of the newest output, which is written as the pty
 * drains. When the ring overflows its oldest bytes are dropped, and so is what still waits
 * unread in the kernel (older still), so a client that attaches late reads one unbroken run
 * of the newest output rather than the oldest with a hole after it.
 */

import { closeSync, fstatSync, statSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { log } from '../common/log.js';
import { setCloseOnExec, setNonBlocking } from '../sys/descriptors.js';
import { discardUnreadInput, openPty, slavePath } from '../sys/pty.js';

/** Options of {@link PtyConsole.open}. */
export interface PtyConsoleOptions {
  /**
   * How many bytes of output the console keeps beyond what the pty holds, while nobody
   * reads (64 KiB by default). The kernel holds about 20 KiB more. With 0 the console keeps
   * nothing of its own and, as vmd does, drops new output while the pty is full.
   */
  bufferBytes?: number;
}

/** The default of {@link PtyConsoleOptions.bufferBytes}. */
export const DEFAULT_CONSOLE_BUFFER_BYTES = 64 * 1024;

/**
 * Node cannot watch a raw descriptor for writability, so pending output is retried on a timer:
 * soon at first, then less often while the pty stays full, and never while nothing waits.
 */
const RETRY_FIRST_MS = 2;
const RETRY_LONGEST_MS = 100;

/** A bounded FIFO of bytes that drops its oldest bytes to make room for new ones. */
class ByteRing {
  private readonly bytes: Uint8Array;
  private start = 0;
  /** How many bytes it holds. */
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  /**
   * Appends `data`, dropping the oldest bytes (held, or of `data` itself) that do not fit;
   * returns how many were dropped.
   */
  push(data: Uint8Array): number {
    const capacity = this.bytes.length;
    if (data.length >= capacity) {
      const dropped = this.length + data.length - capacity;
      this.bytes.set(data.subarray(data.length - capacity));
      this.start = 0;
      this.length = capacity;
      return dropped;
    }
    const dropped = Math.max(0, this.length + data.length - capacity);
    this.consume(dropped);
    const end = (this.start + this.length) % capacity;
    const first = Math.min(data.length, capacity - end);
    this.bytes.set(data.subarray(0, first), end);
    this.bytes.set(data.subarray(first), 0);
    this.length += data.length;
    return dropped;
  }

  /** The oldest bytes that lie in one piece (a view, valid until the next push). */
  head(): Uint8Array {
    const end = Math.min(this.start + this.length, this.bytes.length);
    return this.bytes.subarray(this.start, end);
  }

  /** Forgets the `count` oldest bytes. */
  consume(count: number): void {
    if (count === 0) return;
    this.length -= count;
    this.start = this.length === 0 ? 0 : (this.start + count) % this.bytes.length;
  }
}

/** An error with code EINVAL (a request that names the wrong descriptors). */
function invalid(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'EINVAL' });
}

/** The ring size of {@link PtyConsoleOptions.bufferBytes}, checked. */
function checkBufferBytes(bufferBytes = DEFAULT_CONSOLE_BUFFER_BYTES): number {
  if (!Number.isSafeInteger(bufferBytes) || bufferBytes < 0) {
    throw new RangeError(`console buffer size must be a whole number of bytes: ${bufferBytes}`);
  }
  return bufferBytes;
}

/** A serial console on a pty, for one VM process. */
export class PtyConsole {
  /** The slave's path (e.g. `/dev/pts/7`): what clients open, and vmctl's TTY column. */
  readonly path: string;
  private readonly master: number;
  private readonly slave: number;
  private readonly reader: ReadStream;
  private readonly ring: ByteRing;
  private readonly listeners: ((bytes: Uint8Array) => void)[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = RETRY_FIRST_MS;
  private dropped = 0;
  private closed = false;

  /**
   * Opens a new pty (raw mode) and starts reading what clients type. Throws when no pty can
   * be had (ENOENT for a host without /dev/ptmx, EMFILE, EAGAIN when the host's pty limit
   * is reached) or `bufferBytes` is not a non-negative integer.
   */
  static open(options: PtyConsoleOptions = {}): PtyConsole {
    const bufferBytes = checkBufferBytes(options.bufferBytes);
    const pty = openPty();
    try {
      return new PtyConsole(pty.master, pty.slave, pty.path, bufferBytes);
    } catch (error) {
      closeSync(pty.master);
      closeSync(pty.slave);
      throw error;
    }
  }

  /**
   * A console on a pty someone else opened: the descriptors this process inherited from the
   * vmd parent, which keeps the pty for the VM across reboots (vmd.c's vm_opentty). The
   * console owns `master` and `slave` from here on (close() closes them; the parent's copies
   * stay open). Throws when the descriptors are not that pty's (EBADF for one not open,
   * ENOTTY for a master that is no pty master, EINVAL for another pty's), or as
   * {@link open} does; nothing is closed then.
   */
  static adopt(
    pty: { master: number; slave: number; path: string },
    options: PtyConsoleOptions = {},
  ): PtyConsole {
    const bufferBytes = checkBufferBytes(options.bufferBytes);
    const actual = slavePath(pty.master);
    if (actual !== pty.path) {
      throw invalid(`descriptor ${pty.master} is the master of ${actual}, not of ${pty.path}`);
    }
    if (fstatSync(pty.slave).rdev !== statSync(pty.path).rdev) {
      throw invalid(`descriptor ${pty.slave} is not the slave ${pty.path}`);
    }
    // The open file description is the parent's too, so its flags may be anything: the
    // master must not block the VM process, and neither end goes to programs it might start.
    setNonBlocking(pty.master);
    setCloseOnExec(pty.master);
    setCloseOnExec(pty.slave);
    return new PtyConsole(pty.master, pty.slave, pty.path, bufferBytes);
  }

  private constructor(master: number, slave: number, path: string, bufferBytes: number) {
    this.master = master;
    this.slave = slave;
    this.path = path;
    this.ring = new ByteRing(bufferBytes);
    // A tty.ReadStream reads the master through libuv's event loop, as it reads a terminal:
    // no thread blocks on it. libuv does not reopen a master (that would make a new pty) and
    // leaves its flags alone; it is non-blocking already. The stream owns the descriptor
    // from here on and closes it when destroyed.
    this.reader = new ReadStream(master);
    this.reader.on('data', (chunk: Buffer) => {
      this.deliver(chunk);
    });
    this.reader.on('error', (error: Error) => {
      log.warn('console %s: reading: %s', this.path, error.message);
    });
  }

  /** Bytes of output waiting for the pty to take them. */
  get pendingBytes(): number {
    return this.ring.length;
  }

  /**
   * Bytes of output the console dropped so far from its own buffer, because nobody read them
   * in time; what it discarded from the kernel's queue (whose size it does not learn) is not
   * counted.
   */
  get droppedBytes(): number {
    return this.dropped;
  }

  /**
   * Sends guest output to the console. Never blocks and never throws; output that finds the
   * pty and the ring full replaces the oldest output (see the module comment). The bytes are
   * copied, so the caller may reuse `bytes`.
   */
  write(bytes: Uint8Array): void {
    if (this.closed || bytes.length === 0) return;
    let rest = bytes;
    if (this.ring.length === 0) {
      const written = this.writeToMaster(bytes);
      if (written === bytes.length) return;
      rest = bytes.subarray(written);
    }
    const dropped = this.ring.push(rest);
    this.dropped += dropped;
    if (dropped > 0 && this.ring.length > 0) {
      this.discardUnread();
      this.writePending();
    }
    if (this.ring.length > 0) this.scheduleRetry();
  }

  /**
   * Calls `listener` with each run of bytes a client types, in order. Listeners are called on
   * the event loop; one that throws is logged and the others still run.
   */
  onInput(listener: (bytes: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  /** Closes both ends of the pty. Output still waiting is dropped; later writes are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.listeners.length = 0;
    this.reader.destroy();
    closeSync(this.slave);
  }

  private deliver(bytes: Buffer): void {
    for (const listener of this.listeners) {
      try {
        listener(bytes);
      } catch (error) {
        log.warn('console %s: input listener failed: %s', this.path, String(error));
      }
    }
    // Someone typed, so someone is attached and may be reading: try the output now.
    if (this.ring.length > 0) this.writePending();
  }

  /** Writes what the pty takes now; returns how many bytes that was. */
  private writeToMaster(bytes: Uint8Array): number {
    try {
      return writeSync(this.master, bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
      // Nothing else is expected while the console holds the slave open; dropping the bytes
      // keeps the VM running rather than retrying a write that cannot succeed.
      log.warn('console %s: writing: %s', this.path, String(error));
      this.dropped += bytes.length;
      return bytes.length;
    }
  }

  /** Writes waiting output until the pty is full; returns whether any of it went. */
  private writePending(): boolean {
    let progressed = false;
    while (this.ring.length > 0) {
      const head = this.ring.head();
      const written = this.writeToMaster(head);
      if (written > 0) progressed = true;
      this.ring.consume(written);
      if (written < head.length) break;
    }
    return progressed;
  }

  /** Drops the output waiting unread in the kernel: it is older than anything in the ring. */
  private discardUnread(): void {
    try {
      discardUnreadInput(this.slave);
    } catch (error) {
      log.warn('console %s: discarding old output: %s', this.path, String(error));
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      const progressed = this.writePending();
      if (this.ring.length === 0) {
        this.retryDelayMs = RETRY_FIRST_MS;
        return;
      }
      this.retryDelayMs = progressed
        ? RETRY_FIRST_MS
        : Math.min(this.retryDelayMs * 2, RETRY_LONGEST_MS);
      this.scheduleRetry();
    }, this.retryDelayMs);
    // Waiting output alone does not keep the process alive; the pty's reader does, until close().
    this.retryTimer.unref();
  }
}
