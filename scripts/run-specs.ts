/**
 * Runs the specs with node's test runner, each run against a database server of its own.
 * Usage: `tsx scripts/run-specs.ts [spec files…]` (default: every `spec/**\/*.spec.ts`).
 *
 * Without `MONGODB_URI`, two runs, one after the other:
 * 1. `sqlite`: every spec file, against FerretDB on SQLite (or `mongod` where FerretDB cannot be
 *    built; see scripts/database.ts).
 * 2. `postgresql`: the storage specs only, against FerretDB on a throwaway PostgreSQL cluster.
 *    Storage specs are the files that use the run's server through spec/support/database.ts
 *    (`useSpecDatabase`, `openSpecDatabase`, `testUri`). The others run once, in the first run,
 *    as a second run would only repeat them: they need no database, or (spec/faults-*.spec.ts)
 *    start FerretDB processes of their own on SQLite through spec/support/ferretdb-process.ts.
 * `SPEC_BACKENDS=sqlite` or `SPEC_BACKENDS=postgresql` makes one of the two runs only (the
 * default is `sqlite,postgresql`), for a quick check.
 *
 * With `MONGODB_URI` set: one run of every file against that server, starting nothing;
 * `SPEC_BACKENDS` does not apply.
 *
 * A run's specs see `MONGODB_URI` and `SPEC_BACKEND` (`sqlite`, `postgresql`, `mongod` or
 * `external`; `specBackend()` in spec/support/database.ts reads it). The output ends with a
 * line a run, `<backend>: N passed, N failed, N skipped in S s`, and then their sum,
 * `N passed, N failed, N skipped`; the exit code is non-zero when any run failed. A process
 * warning is printed once (scripts/spec-reporter.mjs), not once for each spec file and run
 * that gives it: the runs share the list of warnings printed (`SPEC_WARNINGS_FILE`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type Database, startDatabase } from './database.js';

const BACKENDS: readonly Backend[] = ['sqlite', 'postgresql'];

/** What the spec files share with the run's server; a file naming none of these is not a storage spec. */
const USES_RUN_DATABASE = /\b(?:useSpecDatabase|openSpecDatabase|testUri)\(/;

interface Counts {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

interface Run {
  readonly backend: Backend;
  readonly files: readonly string[];
}

interface Outcome {
  /** The server's kind once it has started, the backend asked for until then. */
  readonly label: string;
  /** Undefined when the run ended without a summary (its server did not start, or it crashed). */
  readonly counts: Counts | undefined;
  readonly ok: boolean;
  readonly seconds: number;
}

/** The warnings printed so far, shared by the runs' reporters (scripts/spec-reporter.mjs). */
const WARNINGS_FILE = join(tmpdir(), `cms-spec-warnings-${process.pid}.json`);
process.once('exit', () => rmSync(WARNINGS_FILE, { force: true }));

/** What to stop should a signal arrive: the run under way, if any. */
const active: { runner?: ChildProcess; stop?: () => Promise<void> } = {};

async function specFiles(): Promise<string[]> {
  const given = process.argv.slice(2);
  if (given.length > 0) return given;
  const entries = await readdir('spec', { recursive: true });
  return entries
    .filter((entry) => entry.endsWith('.spec.ts'))
    .map((entry) => join('spec', entry))
    .sort();
}

function isBackend(name: string): name is Backend {
  return (BACKENDS as readonly string[]).includes(name);
}

/** The backends `SPEC_BACKENDS` names (all by default), in the order they run. */
function chosenBackends(): readonly Backend[] {
  const named = (process.env.SPEC_BACKENDS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (named.length === 0) return BACKENDS;
  const unknown = named.filter((name) => !isBackend(name));
  if (unknown.length > 0) {
    throw new Error(`SPEC_BACKENDS names ${unknown.join(', ')}; use ${BACKENDS.join(' or ')}`);
  }
  return BACKENDS.filter((backend) => named.includes(backend));
}

async function isStorageSpec(file: string): Promise<boolean> {
  return USES_RUN_DATABASE.test(await readFile(file, 'utf8'));
}

/** The runs to make, each with its files (see the module comment). */
async function planRuns(files: readonly string[]): Promise<Run[]> {
  const uri = process.env.MONGODB_URI;
  if (uri !== undefined && uri !== '') return [{ backend: 'sqlite', files }];
  const storage = await filterAsync(files, isStorageSpec);
  return chosenBackends().map((backend) => ({
    backend,
    files: backend === 'sqlite' ? files : storage,
  }));
}

async function filterAsync<T>(items: readonly T[], keep: (item: T) => Promise<boolean>) {
  const kept = await Promise.all(items.map(keep));
  return items.filter((_, index) => kept[index]);
}

/** Starts the run's server, runs its files with node's test runner, and stops the server. */
async function execute(run: Run, index: number): Promise<Outcome> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  let database: Database;
  try {
    database = await startDatabase(undefined, { backend: run.backend });
  } catch (error) {
    console.error(`${run.backend}: the test database did not start: ${describeError(error)}`);
    return { label: run.backend, counts: undefined, ok: false, seconds: seconds() };
  }
  let stopping: Promise<void> | undefined;
  active.stop = () => {
    stopping ??= database.stop();
    return stopping;
  };
  console.log(`Test database: ${database.description}`);

  const summaryFile = join(tmpdir(), `cms-spec-summary-${process.pid}-${index}.json`);
  try {
    const code = await runSpecs(run.files, {
      MONGODB_URI: database.uri,
      SPEC_BACKEND: database.kind,
      SPEC_SUMMARY_FILE: summaryFile,
      SPEC_WARNINGS_FILE: WARNINGS_FILE,
    });
    const counts = await readCounts(summaryFile);
    const ok = code === 0 && counts !== undefined && counts.failed === 0;
    return { label: database.kind, counts, ok, seconds: seconds() };
  } finally {
    await active.stop();
    delete active.stop;
    await rm(summaryFile, { force: true });
  }
}

/** Runs node's test runner on `files` with `env` added; resolves with its exit code. */
function runSpecs(files: readonly string[], env: Record<string, string>): Promise<number> {
  const reporter = new URL('./spec-reporter.mjs', import.meta.url).href;
  const summary = new URL('./summary-reporter.mjs', import.meta.url).href;
  const runner = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=2',
      // The spec reporter, printing each process warning once rather than once per spec file.
      `--test-reporter=${reporter}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${summary}`,
      '--test-reporter-destination=stdout',
      ...files,
    ],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  active.runner = runner;
  return new Promise<number>((resolve) => {
    runner.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
    runner.once('error', (error) => {
      console.error(error);
      resolve(1);
    });
  }).finally(() => {
    delete active.runner;
  });
}

async function readCounts(file: string): Promise<Counts | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Counts;
  } catch {
    return undefined;
  }
}

function formatCounts({ passed, failed, skipped }: Counts): string {
  return `${passed} passed, ${failed} failed, ${skipped} skipped`;
}

function sum(outcomes: readonly Outcome[]): Counts {
  const add = (key: keyof Counts) =>
    outcomes.reduce((total, { counts }) => total + (counts?.[key] ?? 0), 0);
  return { passed: add('passed'), failed: add('failed'), skipped: add('skipped') };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// A signal stops the run under way and its server; what has not been handed over yet (a server
// still starting) is cleaned up by scripts/database.ts's exit hooks when the process exits.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    active.runner?.kill(signal);
    void (active.stop?.() ?? Promise.resolve()).finally(() =>
      process.exit(128 + constants.signals[signal]),
    );
  });
}

const planned = await planRuns(await specFiles()).catch((error: unknown) => {
  console.error(describeError(error));
  process.exit(1);
});
const runs = planned.filter((run) => {
  if (run.files.length > 0) return true;
  console.log(`${run.backend}: none of the spec files given is a storage spec; no run`);
  return false;
});
if (runs.length === 0) {
  console.error('No spec files to run.');
  process.exit(1);
}

const outcomes: Outcome[] = [];
for (const [index, run] of runs.entries()) outcomes.push(await execute(run, index));

console.log('');
for (const { label, counts, seconds } of outcomes) {
  const result = counts === undefined ? 'no result' : formatCounts(counts);
  console.log(`${label}: ${result} in ${seconds.toFixed(1)} s`);
}
console.log(formatCounts(sum(outcomes)));
process.exit(outcomes.every((outcome) => outcome.ok) ? 0 : 1);
