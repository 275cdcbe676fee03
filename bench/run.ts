/**
 * `npm run bench`: every benchmark, on each FerretDB backend in turn (or on MONGODB_URI), on
 * loopback only; it ends by itself. Prints a progress line per step and a table per suite, and
 * writes bench/results/bench.json (shape: docs/benchmarks.md), then the chart
 * docs/benchmarks.svg from it.
 *
 *   npm run bench                          all suites, PostgreSQL then SQLite
 *   npm run bench -- --quick               one short round of each, to try the harness
 *   npm run bench -- --suites e2e,driver   some suites only (driver, e2e, scale)
 *   npm run bench -- --backends sqlite     some backends only
 *
 * A partial run (`--quick`, `--suites`, `--backends`) writes bench/results/bench-partial.json
 * and leaves the published results and chart alone; with `--publish` (not with `--quick`), the
 * suites it ran replace theirs in bench/results/bench.json, with their own dates, and the chart
 * is redrawn.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { type Backend, startDatabase } from '../scripts/database.js';
import { writeChart } from './chart.js';
import { now, round, type SuiteContext } from './common.js';
import { type DriverResult, formatDriver, runDriver } from './driver.js';
import { type E2eResult, formatE2e, runE2e } from './e2e.js';
import { formatScale, runScale, type ScaleResult } from './scale.js';

const SUITES = ['driver', 'e2e', 'scale'] as const;
type Suite = (typeof SUITES)[number];
const BACKENDS: readonly Backend[] = ['postgresql', 'sqlite'];

export interface BackendResults {
  /** `postgresql` or `sqlite` (FerretDB's backends), or `external` for MONGODB_URI. */
  readonly backend: Backend | 'external';
  /** The server, as `scripts/database.ts` describes it. */
  readonly database: string;
  readonly seconds: number;
  /** When each suite ran (suites of one backend can come from different runs with `--publish`). */
  readonly dates?: Partial<Record<Suite, string>>;
  readonly driver?: DriverResult;
  readonly e2e?: E2eResult;
  readonly scale?: ScaleResult;
}

export interface BenchResults {
  readonly benchmark: 'connect-mongodb-session';
  readonly date: string;
  readonly quick: boolean;
  readonly machine: {
    readonly node: string;
    readonly platform: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryGiB: number;
    readonly freeMemoryGiB: number;
  };
  readonly backends: readonly BackendResults[];
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    suites: { type: 'string', default: SUITES.join(',') },
    backends: { type: 'string', default: BACKENDS.join(',') },
    publish: { type: 'boolean', default: false },
  },
});
const quick = values.quick === true;
const suites = listOf(values.suites, SUITES, '--suites');
const external = (process.env.MONGODB_URI ?? '') !== '';
const backends = external ? [undefined] : listOf(values.backends, BACKENDS, '--backends');
const partial =
  quick || suites.length < SUITES.length || (!external && backends.length < BACKENDS.length);
const log = (line: string) => console.log(`[bench] ${line}`);

const results: BackendResults[] = [];
for (const backend of backends) {
  const started = now();
  const database = await startDatabase(log, backend === undefined ? {} : { backend });
  log(`database: ${database.description}`);
  const name = backend ?? 'external';
  const context = (suite: Suite): SuiteContext => ({
    uri: database.uri,
    backend: name,
    databaseName: `bench_${suite}`,
    quick,
    progress: (line) => log(`${name}: ${line}`),
  });
  let result: BackendResults = { backend: name, database: database.description, seconds: 0 };
  const dates: Partial<Record<Suite, string>> = {};
  try {
    for (const suite of suites) {
      dates[suite] = new Date().toISOString();
      if (suite === 'driver') result = { ...result, driver: await runDriver(context(suite)) };
      if (suite === 'e2e') result = { ...result, e2e: await runE2e(context(suite)) };
      if (suite === 'scale') result = { ...result, scale: await runScale(context(suite)) };
    }
  } finally {
    await database.stop();
  }
  results.push({ ...result, dates, seconds: round((now() - started) / 1000, 0) });
}

const report: BenchResults = {
  benchmark: 'connect-mongodb-session',
  date: new Date().toISOString(),
  quick,
  machine: {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiB: round(freemem() / 2 ** 30, 1),
  },
  backends: results,
};

for (const result of results) {
  console.log(`\n=== ${result.backend}: ${result.database} (${result.seconds} s) ===`);
  if (result.driver !== undefined)
    console.log(`\n-- repository against the driver --\n${formatDriver(result.driver)}`);
  if (result.e2e !== undefined) console.log(`\n-- end to end --\n${formatE2e(result.e2e)}`);
  if (result.scale !== undefined) console.log(`\n-- scale --\n${formatScale(result.scale)}`);
}

const publish = !partial || (values.publish === true && !quick);
const published = publish && partial ? await merged(report) : report;
const file = publish ? 'bench.json' : 'bench-partial.json';
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL(`./results/${file}`, import.meta.url),
  `${JSON.stringify(published, null, 2)}\n`,
);
log(`wrote bench/results/${file}`);
if (publish) log(`wrote ${await writeChart(published)}`);

/** The published results with the suites of this run in place of theirs. */
async function merged(fresh: BenchResults): Promise<BenchResults> {
  const path = new URL('./results/bench.json', import.meta.url);
  const old = JSON.parse(await readFile(path, 'utf8')) as BenchResults;
  const backends = old.backends.map((entry) => {
    const update = fresh.backends.find((candidate) => candidate.backend === entry.backend);
    if (update === undefined) return entry;
    const dates = {
      ...(entry.dates ?? Object.fromEntries(SUITES.map((suite) => [suite, old.date]))),
    };
    let next: BackendResults = { ...entry, database: update.database };
    for (const suite of suites) {
      next = { ...next, [suite]: update[suite] };
      dates[suite] = update.dates?.[suite] ?? fresh.date;
    }
    return { ...next, dates };
  });
  return { ...old, date: fresh.date, machine: fresh.machine, backends };
}

function listOf<T extends string>(text: string, known: readonly T[], flag: string): T[] {
  const items = text.split(',').filter((item) => item !== '');
  for (const item of items) {
    if (!known.includes(item as T))
      throw new Error(`${flag}: ${item} is not one of ${known.join(', ')}`);
  }
  return items as T[];
}
