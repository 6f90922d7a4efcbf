/**
 * A real vmd for the daemon tests: `node dist/src/bin/vmd.js -d -f CONF` with its socket in a
 * temporary directory (VMD_SOCKET), its log collected, and a client that speaks the control
 * protocol over the socket. Everything it makes is removed by {@link TestVmd.stop}.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Envelope } from '../../src/daemon/codec.js';
import { startParams } from '../../src/daemon/message_samples.js';
import type { Message, MessageOf, VmStatus } from '../../src/daemon/messages.js';
import { Peer } from '../../src/daemon/peer.js';
import { REPO_ROOT } from '../guests/build_guest.js';

/** The vmd command. */
export const VMD = join(REPO_ROOT, 'dist/src/bin/vmd.js');
/** The client script that runs as another user. */
const CLIENT_AS = join(REPO_ROOT, 'dist/tests/daemon/client_as.js');

/** What client_as prints: the replies to each request, and whether the connection is open. */
export interface ClientOutput {
  replies: Message[][];
  open: boolean;
}

/** Runs `requests` (each with how many final replies to wait for) as `uid` on one connection. */
export async function runAs(
  uid: number,
  socket: string,
  requests: [Message, number][],
): Promise<ClientOutput> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [CLIENT_AS, socket, JSON.stringify(requests)],
    {
      uid,
      gid: uid,
      timeout: PATIENCE_MS,
    },
  );
  return JSON.parse(stdout) as ClientOutput;
}

/** How long a condition the tests wait for may take before the test fails (not a timing test). */
const PATIENCE_MS = 20_000;

/** Waits until `check` returns a value other than undefined; fails after a long while. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Messages that end the answer to a request (all but `get-info-vm-data`). */
function isFinal(message: Message): boolean {
  return message.type !== 'get-info-vm-data';
}

/** A vmctl-like client on one connection. */
export class Client {
  private lastId = 0;
  private over = false;
  private readonly waiting = new Map<
    number,
    { replies: Message[]; done: (replies: Message[]) => void; count: number }
  >();

  private constructor(readonly peer: Peer) {
    void this.read();
  }

  /** Connects to the socket at `path`. */
  static connect(path: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new Client(new Peer(socket, { name: 'test client' })));
      });
      socket.once('error', reject);
    });
  }

  private async read(): Promise<void> {
    for await (const { id, message } of this.peer as AsyncIterable<Envelope>) {
      const request = this.waiting.get(id);
      if (request === undefined) continue;
      request.replies.push(message);
      if (isFinal(message) && --request.count === 0) {
        this.waiting.delete(id);
        request.done(request.replies);
      }
    }
    this.over = true;
    for (const request of this.waiting.values()) request.done(request.replies);
    this.waiting.clear();
  }

  /** True once the connection has ended: nothing more will arrive. */
  get ended(): boolean {
    return this.over;
  }

  /**
   * Sends `message` and collects the replies until `finals` final ones have come (two for
   * `stop -w`: the response and the VM's end), or the connection ends.
   */
  request(message: Message, finals = 1): Promise<Message[]> {
    const id = ++this.lastId;
    return new Promise((resolve) => {
      if (this.over) {
        resolve([]);
        return;
      }
      this.waiting.set(id, { replies: [], done: resolve, count: finals });
      this.peer.send(message, id);
    });
  }

  /** The single reply to `message`. */
  async ask(message: Message): Promise<Message> {
    const [reply] = await this.request(message);
    if (reply === undefined) throw new Error(`no reply to ${message.type}: the connection closed`);
    return reply;
  }

  /** `vmctl status`: every VM. */
  async status(): Promise<VmStatus[]> {
    const replies = await this.request({ type: 'get-info-vm-request' });
    const last = replies.at(-1);
    if (last?.type !== 'get-info-vm-end-data')
      throw new Error(`status ended with ${JSON.stringify(last)}`);
    return replies.flatMap((m) => (m.type === 'get-info-vm-data' ? [m.info] : []));
  }

  /** The status of the VM `name`, or undefined. */
  async vm(name: string): Promise<VmStatus | undefined> {
    return (await this.status()).find((vm) => vm.name === name);
  }

  /** `vmctl start NAME` of a known VM. */
  async start(name: string): Promise<MessageOf<'start-vm-response'>> {
    const reply = await this.ask(startRequest(name));
    if (reply.type !== 'start-vm-response')
      throw new Error(`start answered ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Ends the connection. */
  close(): void {
    this.peer.close();
  }
}

/** A `start-vm-request` for the known VM `name`, with nothing changed. */
export function startRequest(name: string, uid: number | null = null): Message {
  return { type: 'start-vm-request', uid, ...startParams({ name }) };
}

/** A vmd started for a test, in a directory of its own. */
export class TestVmd {
  /** Every line vmd and its processes logged. */
  readonly log: string[] = [];
  readonly exited: Promise<number | null>;
  private partial = '';

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly socketPath: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        resolve(code);
      }),
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      this.log.push(...lines);
      if (process.env.VMD_TEST_LOG === '1')
        for (const line of lines) process.stderr.write(`  | ${line}\n`);
    });
  }

  /**
   * Starts vmd with `config` as its vm.conf and `args`, as `user` (a private vmd) or root, and
   * waits until its socket answers. The directory is reachable by every user (mode 0711), so
   * that a client of another uid can use the socket.
   */
  static async start(
    config: string,
    options: { args?: readonly string[]; user?: number } = {},
  ): Promise<TestVmd> {
    const dir = mkdtempSync(join(tmpdir(), 'vmd-test-'));
    chmodSync(dir, 0o711);
    const configPath = join(dir, 'vm.conf');
    writeFileSync(configPath, config);
    const socketPath = join(dir, 'vmd.sock');
    // A private vmd of another user makes its socket in a directory of that user's.
    if (options.user !== undefined) chownSync(dir, options.user, options.user);
    const child = spawn(process.execPath, [VMD, '-d', ...(options.args ?? []), '-f', configPath], {
      env: { ...process.env, VMD_SOCKET: socketPath, JOURNAL_STREAM: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(options.user === undefined ? {} : { uid: options.user, gid: options.user }),
    });
    const vmd = new TestVmd(dir, configPath, socketPath, child);
    try {
      await eventually('vmd to start', () => {
        if (child.exitCode !== null)
          throw new Error(`vmd exited ${child.exitCode}: ${vmd.log.join('\n')}`);
        return vmd.log.some((line) => line === 'vmd: startup') ? true : undefined;
      });
    } catch (error) {
      await vmd.stop();
      throw error;
    }
    return vmd;
  }

  /** A new client connection. */
  client(): Promise<Client> {
    return Client.connect(this.socketPath);
  }

  /** Waits for a log line matching `pattern`. */
  waitForLog(pattern: RegExp): Promise<string> {
    return eventually(`a log line matching ${pattern}`, () =>
      this.log.find((line) => pattern.test(line)),
    );
  }

  /** Sends SIGTERM, waits for vmd to exit and removes its directory; returns the exit status. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), PATIENCE_MS);
    const status = await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
    return status;
  }
}

/** True while a process with `pid` exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids of the processes whose parent is `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command may hold spaces and parentheses: the fields after its last ')' are fixed.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(name));
    } catch {
      // The process ended while the list was read.
    }
  }
  return children;
}
