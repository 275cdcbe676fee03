/**
 * `npm start`: builds the package, starts a database (scripts/database.ts: FerretDB on SQLite in
 * a temporary directory, unless `MONGODB_URI` names a server) and runs the example app
 * (examples/express-app.ts) on it, on `PORT` (default 3000). `npm start -- --no-build` skips the
 * build.
 *
 * This process owns everything it starts, so that SIGINT (Ctrl+C) or SIGTERM sent to npm stops
 * it all: npm hands the signal on to its script's process, which is this one because the script
 * `exec`s node (a `sh -c` in between would swallow the signal). The build and the app run each
 * in a process group of their own, which gets the signal from here, once: a terminal's Ctrl+C
 * reaches this process group only, and the app would otherwise get it twice. The app stops
 * first (it closes its server and its store), then the database, whose directory goes with it.
 * Should the signal come while the database is still starting, the process exits at once, and
 * scripts/database.ts's exit hooks kill what it had started and remove its directory.
 *
 * The exit code is the app's (0 after a signal it handled); 128 + the signal's number when the
 * signal came before the app ran; the build's when it failed; 1 when the database did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { type Database, startDatabase } from './database.js';

const APP = 'examples/express-app.ts';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long the build or the app may take to stop before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * Where `npm start` is, for a signal: the build or the app runs in a child, to be stopped; while
 * `starting`, nothing runs but this process and the database it may be starting.
 */
type Phase =
  | { readonly name: 'starting' }
  | { readonly name: 'building'; readonly child: ChildProcess }
  | { readonly name: 'running'; readonly child: ChildProcess }
  | { readonly name: 'stopping' };

let phase: Phase = { name: 'starting' };
let stopSignal: NodeJS.Signals | undefined;

function log(line: string): void {
  console.error(`npm start: ${line}`);
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** Runs `command` in a process group of its own; resolves with its exit code (128 + n for a signal). */
function runGroup(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): { readonly child: ChildProcess; readonly exited: Promise<number> } {
  const child = spawn(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
    env,
  });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error) => {
      log(`${command} did not start: ${error.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? signalExitCode(signal ?? 'SIGTERM')));
  });
  return { child, exited };
}

/** Sends `signal` to `child`'s process group; SIGKILL to the group if it outlasts `timeoutMs`. */
function stopGroup(
  what: string,
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const kill = (to: NodeJS.Signals) => {
    try {
      process.kill(-pid, to);
    } catch {
      // The group is gone already.
    }
  };
  const force = setTimeout(() => {
    log(`${what} did not stop within ${timeoutMs} ms; killing it`);
    kill('SIGKILL');
  }, timeoutMs);
  child.once('exit', () => clearTimeout(force));
  kill(signal);
}

function onSignal(signal: NodeJS.Signals): void {
  // Ctrl+C reaches npm and this process both, and npm hands its copy on: one is enough.
  if (stopSignal !== undefined) return;
  stopSignal = signal;
  // The app handles SIGINT and SIGTERM; a closed terminal's SIGHUP stops it as SIGTERM does.
  const forwarded = signal === 'SIGHUP' ? 'SIGTERM' : signal;
  switch (phase.name) {
    case 'building':
      log(`${signal}: stopping the build`);
      stopGroup('the build', phase.child, forwarded, STOP_TIMEOUT_MS);
      break;
    case 'starting':
      log(`${signal} before the app ran; stopping`);
      process.exit(signalExitCode(signal));
      break;
    case 'running':
      log(`${signal}: stopping the app, then the database`);
      stopGroup('the app', phase.child, forwarded, STOP_TIMEOUT_MS);
      break;
    case 'stopping':
      break;
  }
}

async function build(): Promise<number> {
  // npm sets npm_execpath to its own script; run directly, the npm on PATH builds.
  const npm = process.env.npm_execpath;
  const { child, exited } =
    npm === undefined || npm === ''
      ? runGroup('npm', ['run', 'build'])
      : runGroup(process.execPath, [npm, 'run', 'build']);
  phase = { name: 'building', child };
  return exited;
}

async function main(): Promise<number> {
  if (!process.argv.includes('--no-build')) {
    const built = await build();
    if (stopSignal !== undefined) return signalExitCode(stopSignal);
    if (built !== 0) {
      log('the build failed');
      return built;
    }
  }

  phase = { name: 'starting' };
  let database: Database;
  try {
    database = await startDatabase(log, { command: 'npm start' });
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    return 1;
  }
  console.log(`Database: ${database.description}`);

  const app = runGroup(process.execPath, ['--import', 'tsx', APP], {
    ...process.env,
    MONGODB_URI: database.uri,
  });
  phase = { name: 'running', child: app.child };
  const code = await app.exited;
  phase = { name: 'stopping' };
  if (stopSignal === undefined) log(`the app exited with ${code}; stopping the database`);
  await database.stop();
  if (stopSignal !== undefined) log('stopped the app and the database');
  return code;
}

for (const signal of SIGNALS) process.on(signal, onSignal);
process.exit(await main());
