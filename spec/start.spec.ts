/**
 * `npm start` as a newcomer runs it (scripts/start.ts), stopped as a process manager, `kill` or a
 * terminal's Ctrl+C stops it: once the example app answers, SIGINT or SIGTERM goes to npm's
 * process (or SIGINT to its whole process group, as a terminal sends it), and then npm exits
 * with 0, no process it started is left (the app, the loaders' esbuild services, FerretDB: every
 * descendant of npm, found in /proc), and FerretDB's temporary directory is gone.
 *
 * `MONGODB_URI` is unset, so that npm start starts its own FerretDB, and Go is taken off PATH:
 * the binary built earlier in .cache/ferretdb must serve without it. `--no-build` skips the
 * build, which would empty dist/ under the spec files running meanwhile. Needs Linux (/proc)
 * and the FerretDB binary, which the test run's SQLite server has built; no database of the run.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { FERRETDB_VERSION } from '../scripts/database.js';
import { HttpClient } from './support/http.js';
import { ROOT } from './support/sandbox.js';

const FERRETDB_BINARY = join(ROOT, '.cache', 'ferretdb', FERRETDB_VERSION, 'ferretdb');
const LISTENING = /Example app listening on http:\/\/127\.0\.0\.1:(\d+)\//;
const START_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 20_000;
const GONE_TIMEOUT_MS = 5_000;

const unavailable =
  process.platform !== 'linux'
    ? 'the process tree is read from /proc (Linux)'
    : existsSync(FERRETDB_BINARY)
      ? undefined
      : `no FerretDB binary in .cache/ferretdb (npm test's SQLite run builds it)`;

/** A process as /proc shows it; `started` (clock ticks after boot) tells a reused pid apart. */
interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly started: string;
  readonly state: string;
  readonly args: readonly string[];
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces and parentheses; the fields follow the last.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return {
      pid,
      ppid: Number(fields[1]),
      state: fields[0] ?? '',
      started: fields[19] ?? '',
      args,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every process descending from `root`. */
function descendants(root: number): Proc[] {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((proc) => proc !== undefined);
  const found: Proc[] = [];
  const parents = [root];
  for (let parent = parents.shift(); parent !== undefined; parent = parents.shift()) {
    for (const proc of all.filter(({ ppid }) => ppid === parent)) {
      found.push(proc);
      parents.push(proc.pid);
    }
  }
  return found;
}

/** Whether `proc` still runs: the same process (not a reused pid), and not a zombie. */
function running(proc: Proc): boolean {
  const now = readProc(proc.pid);
  return now !== undefined && now.started === proc.started && now.state !== 'Z';
}

/** PATH without the directories that hold a `go` program. */
function pathWithoutGo(): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !existsSync(join(dir, 'go')))
    .join(delimiter);
}

async function until(what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Started {
  readonly npm: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What npm started, as it stood while the app answered. */
  readonly tree: readonly Proc[];
  readonly ferretdb: Proc;
  readonly stateDir: string;
}

/**
 * Runs `npm start -- --no-build` in a process group of its own, as a terminal would, and
 * resolves once the app has answered a request.
 */
async function startApp(): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', PATH: pathWithoutGo() };
  for (const name of ['MONGODB_URI', 'SPEC_BACKEND', 'SPEC_SUMMARY_FILE', 'NODE_TEST_CONTEXT']) {
    delete env[name];
  }
  const npm = spawn('npm', ['start', '--', '--no-build'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  npm.stdout.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  npm.stderr.on('data', (chunk: Buffer) => {
    printed += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('close', (code, signal) => resolve({ code, signal })),
  );
  const output = () => printed;
  try {
    await until('the app listens', START_TIMEOUT_MS, () => {
      if (npm.exitCode !== null || npm.signalCode !== null) throw new Error('npm exited');
      return LISTENING.test(printed);
    });
    const port = LISTENING.exec(printed)?.[1];
    const response = await new HttpClient(`http://127.0.0.1:${port}`).get('/');
    assert.equal(response.status, 200, `the app answers (${response.body})`);
  } catch (error) {
    killAll(npm, descendants(npm.pid ?? 0));
    throw new Error(`${String(error)}\n${printed}`);
  }

  const tree = descendants(npm.pid ?? 0);
  const ferretdb = tree.find(({ args }) => args[0] === FERRETDB_BINARY);
  const stateDir = ferretdb?.args
    .find((arg) => arg.startsWith('--state-dir='))
    ?.slice('--state-dir='.length);
  const listing = tree.map(({ pid, args }) => `${pid} ${args.join(' ')}`).join('\n');
  if (ferretdb === undefined || stateDir === undefined) {
    killAll(npm, tree);
    assert.fail(`npm start runs no FerretDB of its own:\n${listing}\n${printed}`);
  }
  assert.ok(
    tree.some(({ args }) => args.includes('examples/express-app.ts')),
    `the app is one of npm's descendants:\n${listing}`,
  );
  return { npm, output, exited, tree, ferretdb, stateDir };
}

/** After a failure: nothing of what npm started may outlive the spec. */
function killAll(npm: ChildProcess, tree: readonly Proc[]): void {
  for (const proc of tree.filter(running)) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // It exited meanwhile.
    }
  }
  if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
}

/** Sends `signal` (to npm, or to its process group), and checks that everything stops. */
async function stopsCleanly(signal: NodeJS.Signals, to: 'npm' | 'group'): Promise<void> {
  const started = await startApp();
  const { npm, tree, ferretdb, stateDir } = started;
  try {
    const pid = npm.pid ?? 0;
    process.kill(to === 'group' ? -pid : pid, signal);

    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`npm did not exit within ${EXIT_TIMEOUT_MS} ms`)),
        EXIT_TIMEOUT_MS,
      ).unref(),
    );
    const { code, signal: ended } = await Promise.race([started.exited, timeout]);
    assert.deepEqual({ code, signal: ended }, { code: 0, signal: null }, 'npm exits with 0');
    assert.match(started.output(), /Database: FerretDB /, 'FerretDB served, Go off PATH');

    await until('every process npm started is gone', GONE_TIMEOUT_MS, () =>
      tree.every((proc) => !running(proc)),
    ).catch(() => undefined);
    const left = tree.filter(running).map(({ pid, args }) => `${pid} ${args.join(' ')}`);
    assert.deepEqual(left, [], 'no process npm started is left');
    assert.equal(running(ferretdb), false, 'FerretDB has stopped');
    assert.equal(existsSync(stateDir), false, `FerretDB's directory ${stateDir} is gone`);
  } catch (error) {
    killAll(npm, tree);
    await rm(stateDir, { recursive: true, force: true });
    throw new Error(`${String(error)}\n${started.output()}`);
  }
}

const options = { timeout: START_TIMEOUT_MS + EXIT_TIMEOUT_MS + 10_000, skip: unavailable };

test(
  'npm start stops the app, then FerretDB, and removes its directory, on SIGINT to npm',
  options,
  () => stopsCleanly('SIGINT', 'npm'),
);

test(
  'npm start stops the app, then FerretDB, and removes its directory, on SIGTERM to npm',
  options,
  () => stopsCleanly('SIGTERM', 'npm'),
);

test(
  "npm start stops as cleanly on a terminal's Ctrl+C, which signals npm's whole process group",
  options,
  () => stopsCleanly('SIGINT', 'group'),
);
