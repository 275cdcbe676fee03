/**
 * The child process of bench/scale.ts: reads every session of one collection once, with the
 * repository's cursor iterator (`--mode cursor`) or with `all()` (`--mode all`), and prints one
 * JSON line, `IterationReport`. A process of its own per run, so that its peak RSS belongs to
 * that run alone.
 * Run: node --import tsx bench/scale-iterate.ts --uri <uri> --database <name> --collection <name> --mode cursor|all
 */
import { parseArgs } from 'node:util';
import { SessionRepository } from '../lib/repository/session-repository.js';

/** What the child prints, on one line of standard output. */
export interface IterationReport {
  /** How many sessions were read. */
  readonly count: number;
  /** Milliseconds from the first request to the last session read. */
  readonly ms: number;
  /** The process's peak RSS over its whole life (`process.resourceUsage().maxRSS`), in MiB. */
  readonly maxRssMiB: number;
  /** RSS after the imports and the connection, before reading, in MiB. */
  readonly baselineRssMiB: number;
  /** The highest RSS sampled (every 20 ms) while reading, in MiB: not raised by the imports' peak. */
  readonly sampledPeakRssMiB: number;
}

export type IterationMode = 'cursor' | 'all';

const SAMPLE_INTERVAL_MS = 20;
const MiB = 2 ** 20;

const { values } = parseArgs({
  options: {
    uri: { type: 'string' },
    database: { type: 'string' },
    collection: { type: 'string' },
    mode: { type: 'string' },
  },
});
const { uri, database, collection, mode } = values;
if (uri === undefined || database === undefined || collection === undefined) {
  throw new TypeError('Expected --uri, --database and --collection');
}
if (mode !== 'cursor' && mode !== 'all') {
  throw new TypeError(`Expected --mode to be cursor or all, got \`${String(mode)}\``);
}

// No deadline: on FerretDB 1.x a read of every session is a full scan, which outlasts the 5 s
// default at large counts; this run measures how long it takes rather than whether it fits.
const repository = new SessionRepository({
  uri,
  databaseName: database,
  collection,
  autoRemove: 'disabled',
  manageIndexes: false,
  operationTimeoutMs: 0,
});
try {
  await repository.ready();
  const baseline = process.memoryUsage().rss;
  let sampledPeak = baseline;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, SAMPLE_INTERVAL_MS);
  const started = performance.now();
  let count = 0;
  if (mode === 'cursor') {
    for await (const _ of repository.sessions()) count += 1;
  } else {
    count = (await repository.all()).length;
  }
  const ms = performance.now() - started;
  clearInterval(sampler);
  sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  const report: IterationReport = {
    count,
    ms: Math.round(ms),
    maxRssMiB: round1((process.resourceUsage().maxRSS * 1024) / MiB),
    baselineRssMiB: round1(baseline / MiB),
    sampledPeakRssMiB: round1(sampledPeak / MiB),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await repository.close();
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
