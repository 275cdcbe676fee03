import { type ChildProcess, spawn } from 'node:child_process';
import { ROOT } from './sandbox.js';

export interface Finished {
  readonly code: number | null;
  /** The signal that ended the program; none when it ended by the SIGTERM sent after `onPort`. */
  readonly signal: NodeJS.Signals | null;
  /** Whether the program printed its port, and `onPort` ran. */
  readonly served: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ProgramOptions {
  /** The environment besides PATH: nothing of the spec's own leaks into the program. */
  readonly env: Record<string, string>;
  readonly timeoutMs: number;
  /** What the program prints once it listens, the port as its first group. */
  readonly portPattern: RegExp;
  /** Called once the program listens; the program gets SIGTERM when it settles. */
  readonly onPort: (port: number) => Promise<void>;
}

/**
 * Runs `node …args` from the project's root (where the package's self-reference resolves), and
 * rejects with what it printed when it outlasts `timeoutMs` or `onPort` fails.
 */
export function runProgram(args: readonly string[], options: ProgramOptions): Promise<Finished> {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...options.env, PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let failure: unknown;
  let served = false;
  const timer = setTimeout(() => {
    failure ??= new Error(`the program did not finish within ${options.timeoutMs} ms`);
    child.kill('SIGKILL');
  }, options.timeoutMs);
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const port = options.portPattern.exec(stdout)?.[1];
    if (port === undefined || served) return;
    served = true;
    options.onPort(Number(port)).then(
      () => child.kill('SIGTERM'),
      (error: unknown) => {
        failure ??= error;
        child.kill('SIGKILL');
      },
    );
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) {
        reject(new Error(`${String(failure)}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      } else {
        const stopped = served && signal === 'SIGTERM';
        resolve({ code, signal: stopped ? null : signal, served, stdout, stderr });
      }
    });
  });
}
