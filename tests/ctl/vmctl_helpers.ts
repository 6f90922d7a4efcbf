/**
 * Helpers of the vmctl tests: vmctl run as a child process (with `VMD_SOCKET` pointing at the
 * test's socket), and a control socket that answers each request as a test scripts it, speaking
 * the real protocol (frames, codec, peer) on a real unix socket.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../src/daemon/messages.js';
import { Peer } from '../../src/daemon/peer.js';
import { REPO_ROOT } from '../guests/build_guest.js';

/** The built vmctl. */
export const VMCTL = join(REPO_ROOT, 'dist/src/bin/vmctl.js');

/** How a vmctl run ended. */
export interface VmctlRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runVmctl}. */
export interface RunOptions {
  /** The control socket (`VMD_SOCKET`). */
  socket?: string;
  /** Written to vmctl's standard input, which is then closed. */
  stdin?: string;
  /** The working directory. */
  cwd?: string;
}

/** A vmctl that is still running: its input, its output so far, and its end. */
export interface VmctlProcess {
  /** Writes to vmctl's standard input. */
  write(text: string): void;
  /** Closes vmctl's standard input. */
  end(): void;
  /** Standard output so far. */
  stdout(): string;
  /** Resolves when standard output contains `text` (or rejects when vmctl exits first). */
  waitForOutput(text: string): Promise<void>;
  /** Resolves when standard error contains `text` (or rejects when vmctl exits first). */
  waitForError(text: string): Promise<void>;
  /** Resolves when vmctl has exited. */
  done: Promise<VmctlRun>;
}

/** Starts vmctl with `args`, standard input left open (it is killed after two minutes). */
export function startVmctl(args: readonly string[], options: RunOptions = {}): VmctlProcess {
  const env = { ...process.env };
  if (options.socket !== undefined) env.VMD_SOCKET = options.socket;
  const child = spawn(process.execPath, [VMCTL, ...args], {
    env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const watchers: {
    text: string;
    stream: 'stdout' | 'stderr';
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];
  const check = (): void => {
    for (const w of [...watchers]) {
      if ((w.stream === 'stdout' ? stdout : stderr).includes(w.text)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      } else if (exited) {
        watchers.splice(watchers.indexOf(w), 1);
        w.reject(
          new Error(`vmctl exited without printing ${JSON.stringify(w.text)}: ${stdout}${stderr}`),
        );
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    check();
  });
  child.stdin.on('error', () => undefined);
  const done = new Promise<VmctlRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      exited = true;
      check();
      resolve({ status, stdout, stderr });
    });
  });
  return {
    write: (text) => child.stdin.write(text),
    end: () => child.stdin.end(),
    stdout: () => stdout,
    waitForOutput: (text) =>
      new Promise((resolve, reject) => {
        watchers.push({ text, stream: 'stdout', resolve, reject });
        check();
      }),
    waitForError: (text) =>
      new Promise((resolve, reject) => {
        watchers.push({ text, stream: 'stderr', resolve, reject });
        check();
      }),
    done,
  };
}

/** Runs vmctl with `args` and waits for it to exit (it is killed after two minutes). */
export function runVmctl(args: readonly string[], options: RunOptions = {}): Promise<VmctlRun> {
  const vmctl = startVmctl(args, options);
  vmctl.write(options.stdin ?? '');
  vmctl.end();
  return vmctl.done;
}

/** Answers one request: the test calls `reply` for each reply it wants sent. */
export type Script = (request: Message, reply: (message: Message) => void) => void;

/** A control socket in a temporary folder whose answers a test scripts. */
export class ScriptedVmd {
  /** Every request received, in order. */
  readonly requests: Message[] = [];
  private readonly peers = new Set<Peer>();

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    /** The socket's path, for `VMD_SOCKET`. */
    readonly path: string,
    private script: Script,
  ) {
    server.on('connection', (socket) => {
      const peer = new Peer(socket, { name: 'test', onError: () => undefined });
      this.peers.add(peer);
      void (async () => {
        for await (const { id, message } of peer) {
          this.requests.push(message);
          this.script(message, (reply) => peer.send(reply, id));
        }
        this.peers.delete(peer);
      })();
    });
  }

  /** Listens on a new socket and answers with `script`. */
  static async start(script: Script): Promise<ScriptedVmd> {
    const dir = await mkdtemp(join(tmpdir(), 'vmctl-test-'));
    const path = join(dir, 'vmd.sock');
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    return new ScriptedVmd(server, dir, path, script);
  }

  /** Answers from now on with `script`. */
  answer(script: Script): void {
    this.script = script;
  }

  /** Closes every connection and the socket, and removes the folder. */
  async close(): Promise<void> {
    for (const peer of this.peers) peer.close();
    await new Promise((resolve) => this.server.close(resolve));
    await rm(this.dir, { recursive: true, force: true });
  }
}
