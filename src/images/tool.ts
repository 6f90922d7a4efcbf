/**
 * Runs the host tools that image building and kernel loading lean on (`apt-get`, `tar`, `xz`),
 * feeding bytes on standard input and collecting standard output. A tool that is not installed
 * becomes an error naming the Debian package that provides it; a failure quotes the tool's own
 * message.
 */

import { spawn } from 'node:child_process';

/** The Debian package providing each tool, for "not installed" messages. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  'apt-cache': 'apt',
  'apt-get': 'apt',
  ar: 'binutils',
  cpio: 'cpio',
  tar: 'tar',
  xz: 'xz-utils',
  zstd: 'zstd',
};

/** A host tool that is missing or failed. */
export class ToolError extends Error {
  override name = 'ToolError';
  /** The tool's exit status, or undefined when it did not run or was killed by a signal. */
  readonly status: number | undefined;
  /** What the tool wrote on standard error. */
  readonly stderr: string;

  constructor(message: string, details: { status?: number; stderr?: string; cause?: unknown }) {
    super(message, { cause: details.cause });
    this.status = details.status;
    this.stderr = details.stderr ?? '';
  }
}

/** Options of {@link runTool}. */
export interface RunOptions {
  /** Bytes written to the tool's standard input, which is then closed; none by default. */
  input?: Uint8Array;
  /** Working folder. */
  cwd?: string;
  /** Extra environment variables. The locale is always C, so messages can be matched. */
  env?: Readonly<Record<string, string>>;
}

/** What a tool that exited with status 0 wrote. */
export interface ToolOutput {
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** The "not installed" message for `cmd`, with the package to install on Debian. */
export function notInstalled(cmd: string): string {
  return `${cmd} is not installed (Debian: apt-get install ${DEBIAN_PACKAGE[cmd] ?? cmd})`;
}

/**
 * Runs `cmd args` and resolves with its output when it exits with status 0. Rejects with a
 * {@link ToolError}: "not installed" when the program is missing, else the command line, the
 * status and the last lines of standard error.
 */
export function runTool(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ToolOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      const message =
        error.code === 'ENOENT' ? notInstalled(cmd) : `${cmd}: cannot run: ${error.message}`;
      reject(new ToolError(message, { cause: error }));
    });
    child.on('close', (status, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (status === 0) {
        resolve({ stdout: Buffer.concat(out), stderr });
        return;
      }
      const how = signal !== null ? `was killed by ${signal}` : `exited with status ${status}`;
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      reject(
        new ToolError(`${[cmd, ...args].join(' ')} ${how}${tail === '' ? '' : `: ${tail}`}`, {
          status: status ?? undefined,
          stderr,
        }),
      );
    });
    if (options.input !== undefined && child.stdin !== null) {
      // A tool may stop reading before the end (xz --single-stream leaves trailing bytes):
      // EPIPE then is not an error, the exit status says how it went.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}
