/**
 * What every benchmark suite shares: statistics, timing, the progress line and the settings of a
 * run. Suites take a `SuiteContext` and return plain JSON; `bench/run.ts` runs them per backend
 * and writes the results (shape: docs/benchmarks.md).
 */
import { performance } from 'node:perf_hooks';
import type { Backend } from '../scripts/database.js';

export interface SuiteContext {
  /** The server to measure: loopback only. */
  readonly uri: string;
  /** Which backend `uri` is, for names and labels. */
  readonly backend: Backend | 'external';
  /** A database name of the suite's own, dropped by the suite when it ends. */
  readonly databaseName: string;
  /** `--quick`: fewer rounds and shorter steps, to check the harness rather than to publish. */
  readonly quick: boolean;
  /** Prints one progress line. */
  readonly progress: (line: string) => void;
}

/** The middle value (the lower of the two middles for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The value below which `p` percent of `values` lie (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

/** Median, smallest and largest of a set of per-round figures. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  return {
    median: round(median(values)),
    min: round(Math.min(...values)),
    max: round(Math.max(...values)),
  };
}

/** Rounds to three significant decimals, enough for results files and tables. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Milliseconds since an arbitrary start, with sub-millisecond resolution. */
export const now = (): number => performance.now();

export interface LoadResult {
  readonly operations: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/**
 * Runs `operation` from `concurrency` workers for `durationMs` and measures each call. Errors
 * are counted, not thrown; a run with errors is reported as such.
 */
export async function load(
  operation: (worker: number, call: number) => Promise<unknown>,
  concurrency: number,
  durationMs: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = now();
  const deadline = started + durationMs;
  const worker = async (index: number) => {
    for (let call = 0; now() < deadline; call += 1) {
      const begun = now();
      try {
        await operation(index, call);
      } catch {
        errors += 1;
      }
      latencies.push(now() - begun);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  const seconds = (now() - started) / 1000;
  return {
    operations: latencies.length,
    seconds: round(seconds),
    opsPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors,
  };
}

/** Prints rows as an aligned plain-text table. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join(
    '\n',
  );
}

/** A number for a table: fixed decimals, or a dash when there is none. */
export function cell(value: number | undefined, decimals = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(decimals);
}
