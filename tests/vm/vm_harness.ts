/**
 * A VM process under test: the real child (spawnVmProcess), its messages in order, its log
 * (stderr) and its console read through the pty it reports, as `vmctl console` would. Failure
 * messages carry the log and the console's last lines. Every wait has a deadline so that a
 * broken VM process fails a test rather than hanging it; none is a speed requirement.
 */

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Envelope } from '../../src/daemon/codec.js';
import type { Message, MessageOf, MessageType } from '../../src/daemon/messages.js';
import type { Peer } from '../../src/daemon/peer.js';
import { spawnVmProcess } from '../../src/vm/vm_process.js';

/** A VM spec for tests: one vCPU, 64 MiB, nothing attached, a pty of its own. */
export { vmSpec as testSpec } from '../../src/daemon/message_samples.js';

/** `promise`, or 'timeout' after `ms` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout')));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How a VM process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One VM process and what the test saw of it. */
export class VmUnderTest {
  readonly child: ChildProcess;
  readonly peer: Peer;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Everything the process logged. */
  log = '';
  /** Everything read from the console so far. */
  output = '';
  /** The guest memory in use the process reported (`vm-memory`), in order. */
  readonly memoryReports: number[] = [];
  readonly #messages: AsyncGenerator<Envelope, void, undefined>;
  #console: number | null = null;

  /** Starts the VM process, handing it the descriptors `inherit` (as 4, 5, ...). */
  constructor(inherit: readonly number[] = []) {
    const { child, peer } = spawnVmProcess({ stderr: 'pipe', inherit });
    this.child = child;
    this.peer = peer;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => (this.log += text));
    this.exited = once(child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
    }));
    this.#messages = peer.messages();
  }

  /** The log and the console's last lines, for failure messages. */
  context(): string {
    const lines = this.output.split(/\r?\n/).slice(-30).join('\n');
    return `--- VM process log ---\n${this.log}\n--- last console lines ---\n${lines}`;
  }

  /** Sends a message to the VM process. */
  send(message: Message, id = 0): void {
    assert.ok(this.peer.send(message, id) || this.peer.isOpen, 'the channel is closed');
  }

  /**
   * The next message, which must be of `type`; the periodic `vm-memory` reports in between
   * are collected in {@link memoryReports} (and expected only when `type` names them).
   */
  async expect<T extends MessageType>(
    type: T,
    timeoutMs = 60_000,
  ): Promise<{ id: number; message: MessageOf<T> }> {
    const deadline = performance.now() + timeoutMs;
    let next: IteratorResult<Envelope, void> | 'timeout';
    for (;;) {
      next = await within(this.#messages.next(), Math.max(0, deadline - performance.now()));
      if (next === 'timeout' || next.done === true) break;
      const { message } = next.value;
      if (message.type !== 'vm-memory') break;
      this.memoryReports.push(message.bytes);
      if (type === 'vm-memory') break;
    }
    if (next === 'timeout')
      assert.fail(`expected ${type} within ${timeoutMs} ms\n${this.context()}`);
    if (next.done === true)
      assert.fail(`expected ${type}, but the channel ended\n${this.context()}`);
    const { id, message } = next.value;
    assert.equal(
      message.type,
      type,
      `expected ${type}, got ${JSON.stringify(message)}\n${this.context()}`,
    );
    return { id, message: message as MessageOf<T> };
  }

  /** Opens the console's pty as a client. */
  attach(path: string): void {
    this.#console = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  }

  /** Types `text` on the console. */
  type(text: string): void {
    if (this.#console === null) assert.fail('type() before attach()');
    writeSync(this.#console, text);
  }

  /** Reads what the console has now into {@link output}; returns how many bytes came. */
  readConsole(): number {
    if (this.#console === null) return 0;
    const buffer = Buffer.alloc(1 << 16);
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.#console, buffer, 0, buffer.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // EAGAIN: nothing now; EIO: the VM process closed its side of the pty.
        if (code === 'EAGAIN' || code === 'EIO') return total;
        throw error;
      }
      if (n === 0) return total;
      this.output += buffer.toString('latin1', 0, n);
      total += n;
    }
  }

  /** Reads the console until its output after `from` matches `pattern`; returns the match. */
  async waitForOutput(pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.readConsole();
      const m = pattern.exec(this.output.slice(from));
      if (m !== null) return m;
      if (performance.now() > deadline) {
        assert.fail(
          `expected ${String(pattern)} on the console within ${timeoutMs} ms\n${this.context()}`,
        );
      }
      await sleep(10);
    }
  }

  /** Waits for the process to exit. */
  async exit(timeoutMs = 60_000): Promise<Exit> {
    const result = await within(this.exited, timeoutMs);
    if (result === 'timeout')
      assert.fail(`expected the VM process to exit within ${timeoutMs} ms\n${this.context()}`);
    return result;
  }

  /** Ends everything the test started: the console client, the channel and the process. */
  async dispose(): Promise<void> {
    if (this.#console !== null) closeSync(this.#console);
    this.#console = null;
    this.peer.close();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
