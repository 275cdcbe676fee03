/**
 * Scale: `get`/`set` latency with 1 thousand, 100 thousand and 1 million stored sessions, and
 * the time and peak RSS of reading them all (the cursor iterator against `all()`) and of
 * `clear()`. One collection grows by bulk inserts of documents in the store's default form;
 * each size is measured before the next is seeded. Goals: p50 latency flat (within 1.5×) from
 * the smallest to the largest count reached; the cursor's peak RSS flat as the count grows.
 * Run alone: tsx bench/scale.ts [--quick] [--json] (BENCH_BACKEND=sqlite|postgresql; MONGODB_URI honoured)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { BSON, type Collection, MongoClient } from 'mongodb';
import { createSessionCodec, type SessionCodec } from '../lib/codec/session-codec.js';
import type { SessionDocument } from '../lib/codec/session-types.js';
import { resolveOptions } from '../lib/options/options.js';
import { DELETE_BATCH_SIZE } from '../lib/repository/bulk-operations.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import { type Backend, startDatabase } from '../scripts/database.js';
import { cell, now, percentile, round, type SuiteContext, table } from './common.js';
import type { IterationMode, IterationReport } from './scale-iterate.js';

const SIZES = [1_000, 100_000, 1_000_000];
const QUICK_SIZES = [1_000, 20_000];
const SEED_BATCH = 5_000;
const SEED_BUDGET_MS = 10 * 60_000;
const QUICK_SEED_BUDGET_MS = 60_000;
/** Seeding stops where it is once it passes the budget by this share (the rate can fall as it grows). */
const SEED_OVERRUN = 1.25;
const CALLS = 300;
const QUICK_CALLS = 60;
const WARMUP_CALLS = 30;
const QUICK_WARMUP_CALLS = 10;
/** get, set and miss take turns in blocks of at most this many calls. */
const BLOCK = 10;
/** Time for the measured calls at one count, in milliseconds; warm-up takes at most a tenth more. */
const LATENCY_BUDGET_MS = 120_000;
const QUICK_LATENCY_BUDGET_MS = 20_000;
const WARMUP_SHARE = 0.1;
/**
 * FerretDB 1.x pushes neither sort nor range filters down, so each batch of the store's `clear()`
 * (a sorted edge lookup, then a range delete) scans the whole collection: its time grows with
 * the square of the count, hours at a million. Larger counts are not cleared.
 */
const CLEAR_LIMIT = 100_000;
const QUICK_CLEAR_LIMIT = 20_000;
/** After a `clear()` this slow, larger ones are not tried. */
const CLEAR_GUARD_MS = 5 * 60_000;
const ITERATION_TIMEOUT_MS = 15 * 60_000;
/** The goal: p50 at the largest count at most this many times that at the smallest. */
const P50_FLAT_RATIO = 1.5;
/**
 * The cursor counts as flat when its peak RSS growth at the largest count exceeds that at the
 * smallest by less than this: a fixed allowance for V8 sizing its heap, far below what `all()`
 * adds at a hundred thousand sessions.
 */
const CURSOR_FLAT_ALLOWANCE_MiB = 64;
const DAY_MS = 86_400_000;
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ITERATE_SCRIPT = fileURLToPath(new URL('./scale-iterate.ts', import.meta.url));

const run = promisify(execFile);

/** What the scale suite measured; plain JSON. */
export interface ScaleResult {
  /** The session counts asked for, smallest first. */
  readonly sizesRequested: readonly number[];
  /** The BSON size of one seeded document (`_id`, `session`, `expires`), in bytes. */
  readonly documentBytes: number;
  readonly seeding: SeedingResult;
  /** One entry per count reached, smallest first. */
  readonly sizes: readonly SizeResult[];
  /** One entry per count reached: `clear()` measured, or why not. */
  readonly clear: readonly ClearResult[];
  readonly goals: ScaleGoals;
}

/** How the one growing collection was filled. */
export interface SeedingResult {
  /** The largest count asked for. */
  readonly requested: number;
  /** The largest count seeded and measured. */
  readonly reached: number;
  /** Why seeding stopped short of `requested`; `null` when it did not. */
  readonly stoppedBecause: string | null;
  /** The seeding budget: seeding stops where it would pass it. In seconds. */
  readonly budgetSeconds: number;
  /** Time spent seeding, all steps together, in seconds. */
  readonly seconds: number;
  /** Sessions inserted per second over all steps. */
  readonly sessionsPerSecond: number;
  /** Each growth step: to `sessions`, in `seconds`. */
  readonly steps: ReadonlyArray<{
    readonly sessions: number;
    readonly seconds: number;
    readonly sessionsPerSecond: number;
  }>;
}

/** Everything measured with `sessions` stored. */
export interface SizeResult {
  readonly sessions: number;
  /** `get` of an existing session, picked at random. */
  readonly get: LatencyResult;
  /** `set` overwriting an existing session, picked at random, with a changed field. */
  readonly set: LatencyResult;
  /** `get` of an id that is not stored (a lookup miss). */
  readonly miss: LatencyResult;
  /**
   * The lookup `get` sends, `findOne({ _id })` with the same projection, through the driver
   * alone: the database's share of `get`.
   */
  readonly driverGet: LatencyResult;
  /** Reading every session with `for await (… of repository.sessions())`, in a fresh process. */
  readonly cursor: IterationResult;
  /** Reading every session with `await repository.all()`, in a fresh process. */
  readonly all: IterationResult;
}

/**
 * Calls one at a time (concurrency 1), after warm-up calls that are not counted, through a
 * repository with the default options but no deadline (`operationTimeoutMs: 0`), so that a slow
 * call is measured whole. At most 300 calls (quick: 60) within 120 s (quick: 20 s); fewer when
 * calls are slow.
 */
export interface LatencyResult {
  readonly calls: number;
  /** Median latency, in milliseconds. */
  readonly p50Ms: number;
  /** 99th percentile latency, in milliseconds. */
  readonly p99Ms: number;
  /** Calls per second at concurrency 1 (1000 / mean latency). */
  readonly opsPerSecond: number;
  /** Calls that threw (a timeout included), or found (or missed) the wrong thing. */
  readonly errors: number;
  /** The first of those errors, in words; `null` when there were none. */
  readonly firstError: string | null;
}

/** One read of every session, or why it has no figures (`error`). */
export type IterationResult = IterationMeasured | IterationFailed;

export interface IterationMeasured {
  /** Sessions stored. */
  readonly sessions: number;
  /** Sessions read; differs from `sessions` only on a fault, which `countMatches` flags. */
  readonly count: number;
  readonly countMatches: boolean;
  /** Time to read them all, in milliseconds. */
  readonly ms: number;
  readonly sessionsPerSecond: number;
  /** The child's peak RSS (`process.resourceUsage().maxRSS`), in MiB. */
  readonly maxRssMiB: number;
  /** The child's RSS after imports and connecting, before reading, in MiB. */
  readonly baselineRssMiB: number;
  /** `maxRssMiB - baselineRssMiB`: what reading added at its peak (the imports' peak can hide small growth). */
  readonly peakGrowthMiB: number;
  /** The highest RSS sampled every 20 ms while reading, minus the baseline, in MiB. */
  readonly sampledPeakGrowthMiB: number;
}

export interface IterationFailed {
  readonly sessions: number;
  /** A timeout, a crash or unreadable output, in words. */
  readonly error: string;
}

/** `clear()` of a collection holding `sessions`, or why it was not measured (`skipped`). */
export type ClearResult = ClearMeasured | ClearSkipped;

export interface ClearMeasured {
  readonly sessions: number;
  /** Time of `clear()`, in milliseconds. */
  readonly ms: number;
  /** `length()` after `clear()`: 0 unless something is wrong. */
  readonly lengthAfter: number;
  /** Whether the growing collection was cleared (at the end), rather than one seeded for this. */
  readonly onMainCollection: boolean;
  /** Time to seed the collection seeded for this, in seconds; 0 on the main collection. */
  readonly seedSeconds: number;
}

export interface ClearSkipped {
  readonly sessions: number;
  readonly skipped: string;
}

/** The issue's goals, judged from the smallest and the largest count reached. */
export interface ScaleGoals {
  /** p50 at the largest count divided by p50 at the smallest, per operation. */
  readonly p50Ratio: {
    readonly get: number;
    readonly set: number;
    readonly miss: number;
    readonly driverGet: number;
  };
  /** Whether every `p50Ratio` is at most 1.5. */
  readonly p50Flat: boolean;
  /** The cursor's `peakGrowthMiB` at each count reached, smallest first (`null` where it failed). */
  readonly cursorPeakGrowthMiB: ReadonlyArray<number | null>;
  /** Whether the cursor's peak growth at the largest count exceeds that at the smallest by less than 64 MiB. */
  readonly cursorFlat: boolean;
}

interface BenchSession {
  cookie: { originalMaxAge: number; expires: Date; httpOnly: boolean; path: string };
  user: { id: string; name: string; email: string; roles: string[] };
  csrf: string;
  visits: number;
}

/** A 32-character id like express-session's (24 random bytes in base64url), so `_id` order is not insertion order. */
function sessionId(index: number, kind = 'session'): string {
  return createHash('sha256').update(`${kind}:${index}`).digest('base64url').slice(0, 32);
}

/** A realistic session of about 300 bytes stored. */
function benchSession(index: number, visits: number, expires: Date): BenchSession {
  return {
    cookie: { originalMaxAge: DAY_MS, expires, httpOnly: true, path: '/' },
    user: {
      id: `u${String(index).padStart(10, '0')}`,
      name: `User ${index}`,
      email: `user${index}@example.com`,
      roles: index % 10 === 0 ? ['reader', 'editor'] : ['reader'],
    },
    csrf: sessionId(index, 'csrf'),
    visits,
  };
}

/** Fills one collection by bulk inserts of documents in the store's default form. */
class Seeder {
  #count = 0;
  #ms = 0;
  readonly #collection: Collection<SessionDocument>;
  readonly #codec: SessionCodec;
  readonly #expires: Date;
  readonly #progress: (line: string) => void;

  constructor(
    collection: Collection<SessionDocument>,
    codec: SessionCodec,
    expires: Date,
    progress: (line: string) => void,
  ) {
    this.#collection = collection;
    this.#codec = codec;
    this.#expires = expires;
    this.#progress = progress;
  }

  /** Sessions inserted so far. */
  get count(): number {
    return this.#count;
  }

  /** Time spent inserting so far, in milliseconds. */
  get ms(): number {
    return this.#ms;
  }

  /** The document `set` would write: `{ _id, session, expires }` (see the repository's replacement). */
  document(index: number): SessionDocument {
    const sid = sessionId(index);
    const { session, expires } = this.#codec.encode(sid, benchSession(index, 1, this.#expires));
    return { _id: sid as never, session, expires };
  }

  /**
   * Inserts up to `target` sessions; stops early, returning false, once the total seeding time
   * passes `limitMs`. The next batch is built while the last one is being inserted.
   */
  async growTo(target: number, limitMs: number): Promise<boolean> {
    const from = this.#count;
    const started = now();
    const tenth = Math.max(SEED_BATCH, (target - from) / 10);
    let nextReport = from + tenth;
    let batch = this.#batch(target);
    try {
      while (batch.length > 0) {
        const inserting = this.#collection.insertMany(batch, { ordered: false });
        const size = batch.length;
        batch = this.#batch(target, this.#count + size);
        await inserting;
        this.#count += size;
        if (this.#count >= nextReport && this.#count < target) {
          nextReport += tenth;
          this.#progress(`scale: seeding ${this.#count} of ${target} sessions`);
        }
        if (this.#ms + now() - started > limitMs) return this.#count >= target;
      }
      return true;
    } finally {
      this.#ms += now() - started;
    }
  }

  #batch(target: number, from = this.#count): SessionDocument[] {
    const size = Math.max(0, Math.min(SEED_BATCH, target - from));
    return Array.from({ length: size }, (_, offset) => this.document(from + offset));
  }
}

/** Runs the suite against `context.uri`; drops `context.databaseName` when it ends. */
export async function runScale(context: SuiteContext): Promise<ScaleResult> {
  const { uri, databaseName, quick, progress } = context;
  const sizes = quick ? QUICK_SIZES : SIZES;
  const budgetMs = quick ? QUICK_SEED_BUDGET_MS : SEED_BUDGET_MS;
  const collection = 'scale';
  const codec = createSessionCodec(resolveOptions({ uri, databaseName, collection }));
  const expires = new Date(Date.now() + DAY_MS);
  const client = await new MongoClient(uri).connect();
  try {
    const seeder = new Seeder(
      client.db(databaseName).collection<SessionDocument>(collection),
      codec,
      expires,
      progress,
    );
    const steps: Array<SeedingResult['steps'][number]> = [];
    const results: SizeResult[] = [];
    let stoppedBecause: string | null = null;
    for (const size of sizes) {
      stoppedBecause = overBudget(seeder, size, budgetMs);
      if (stoppedBecause !== null) break;
      const before = { count: seeder.count, ms: seeder.ms };
      const completed = await seeder.growTo(size, budgetMs * SEED_OVERRUN);
      const seconds = (seeder.ms - before.ms) / 1000;
      const added = seeder.count - before.count;
      steps.push({
        sessions: seeder.count,
        seconds: round(seconds, 1),
        sessionsPerSecond: Math.round(added / seconds),
      });
      progress(
        `scale: seeded ${seeder.count} sessions in ${seconds.toFixed(1)} s (${Math.round(added / seconds)}/s)`,
      );
      if (!completed) {
        stoppedBecause = `seeding passed ${SEED_OVERRUN}× the ${budgetMs / 1000} s budget at ${seeder.count} of ${size} sessions; measured there`;
      }
      results.push(await measureSize(context, collection, seeder.count, expires));
      if (!completed) break;
    }
    if (stoppedBecause !== null) progress(`scale: stopped seeding: ${stoppedBecause}`);
    const reached = seeder.count;
    const clear = await measureClears(context, client, results, reached, codec, expires);
    return {
      sizesRequested: sizes,
      documentBytes: BSON.calculateObjectSize(seeder.document(0)),
      seeding: {
        requested: sizes.at(-1) ?? 0,
        reached,
        stoppedBecause,
        budgetSeconds: budgetMs / 1000,
        seconds: round(seeder.ms / 1000, 1),
        sessionsPerSecond: Math.round(seeder.count / (seeder.ms / 1000)),
        steps,
      },
      sizes: results,
      clear,
      goals: goals(results),
    };
  } finally {
    await client
      .db(databaseName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  }
}

/** Why seeding up to `size` would pass the budget, extrapolating from the rate so far; else null. */
function overBudget(seeder: Seeder, size: number, budgetMs: number): string | null {
  if (seeder.count === 0) return null;
  const msPerSession = seeder.ms / seeder.count;
  const projectedMs = seeder.ms + (size - seeder.count) * msPerSession;
  if (projectedMs <= budgetMs) return null;
  return `seeding ${size} sessions would take about ${Math.round(projectedMs / 1000)} s in all at ${Math.round(1000 / msPerSession)}/s so far, past the ${budgetMs / 1000} s budget`;
}

async function measureSize(
  context: SuiteContext,
  collection: string,
  sessions: number,
  expires: Date,
): Promise<SizeResult> {
  const { uri, databaseName, progress } = context;
  // No deadline: where a lookup scans the collection (FerretDB 1.x), a call past the 5 s default
  // would be cut short and go on scanning on the server beside the next ones, so both the figure
  // and the calls after it would be wrong. Each call is measured whole instead.
  const repository = new SessionRepository<BenchSession>({
    uri,
    databaseName,
    collection,
    autoRemove: 'disabled',
    operationTimeoutMs: 0,
  });
  let latency: Pick<SizeResult, 'get' | 'set' | 'miss' | 'driverGet'>;
  try {
    await repository.whenIndexed();
    latency = await measureLatency(repository, sessions, expires, context.quick);
  } finally {
    await repository.close();
  }
  const { get, set, miss, driverGet } = latency;
  const errors = [get, set, miss].flatMap(({ firstError }) => firstError ?? []);
  progress(
    `scale: ${sessions} sessions: get p50 ${get.p50Ms} ms p99 ${get.p99Ms} ms, set p50 ${set.p50Ms} ms p99 ${set.p99Ms} ms, miss p50 ${miss.p50Ms} ms p99 ${miss.p99Ms} ms, driver findOne p50 ${driverGet.p50Ms} ms (${get.calls} calls each${errors.length > 0 ? `; errors, first: ${errors[0]}` : ''})`,
  );
  const cursor = await iterate(context, collection, sessions, 'cursor');
  progress(`scale: ${sessions} sessions: cursor ${describeIteration(cursor)}`);
  const all = await iterate(context, collection, sessions, 'all');
  progress(`scale: ${sessions} sessions: all() ${describeIteration(all)}`);
  return { sessions, get, set, miss, driverGet, cursor, all };
}

/**
 * get, set and miss at concurrency 1, taking turns in blocks of up to `BLOCK` calls each, so
 * that machine noise hits all alike. Bounded in time: on a backend where a lookup scans the
 * collection, a call can take seconds at large counts, so blocks shrink to fit the budget and the
 * run stops there with fewer calls (`calls` says how many).
 */
async function measureLatency(
  repository: SessionRepository<BenchSession>,
  sessions: number,
  expires: Date,
  quick: boolean,
): Promise<Pick<SizeResult, 'get' | 'set' | 'miss' | 'driverGet'>> {
  let misses = 0;
  const raw = repository.collection as Collection<SessionDocument>;
  const pick = () => Math.floor(Math.random() * sessions);
  const operations = {
    get: async () => (await repository.get(sessionId(pick()))) !== null,
    set: async () => {
      const index = pick();
      await repository.set(sessionId(index), benchSession(index, 2 + misses, expires));
      return true;
    },
    miss: async () => {
      misses += 1;
      return (await repository.get(sessionId(misses, 'missing'))) === null;
    },
    driverGet: async () =>
      (await raw.findOne(
        { _id: sessionId(pick()) as never },
        { projection: { _id: 0, session: 1, expires: 1 } },
      )) !== null,
  };
  const tallies = { get: new Tally(), set: new Tally(), miss: new Tally(), driverGet: new Tally() };
  const names = ['get', 'driverGet', 'set', 'miss'] as const;
  const call = async (name: (typeof names)[number]) => {
    const begun = now();
    const outcome = await operations[name]().catch((error: unknown) => error);
    return { ms: now() - begun, outcome };
  };
  const calls = quick ? QUICK_CALLS : CALLS;
  const budgetMs = quick ? QUICK_LATENCY_BUDGET_MS : LATENCY_BUDGET_MS;
  const warmupEnd = now() + budgetMs * WARMUP_SHARE;
  const warmupCalls = 3 * (quick ? QUICK_WARMUP_CALLS : WARMUP_CALLS);
  for (let done = 0; done < warmupCalls && now() < warmupEnd; done += 1) {
    await call(names[done % names.length] ?? 'get');
  }
  const started = now();
  for (let done = 0; done < calls; ) {
    const elapsed = now() - started;
    const remaining = budgetMs - elapsed;
    if (remaining <= 0) break;
    // The first round is one call of each; the mean call so far sizes the next blocks to the budget.
    const fits = done === 0 ? 1 : Math.floor(remaining / (elapsed / done));
    const block = Math.max(1, Math.min(BLOCK, calls - done, fits));
    for (const name of names) {
      for (let index = 0; index < block; index += 1) {
        const { ms, outcome } = await call(name);
        tallies[name].add(ms, outcome);
      }
    }
    done += block;
  }
  return {
    get: tallies.get.summary(),
    set: tallies.set.summary(),
    miss: tallies.miss.summary(),
    driverGet: tallies.driverGet.summary(),
  };
}

/** Latencies of one operation, and its errors: a rejection, or `false` for a wrong result. */
class Tally {
  readonly #latencies: number[] = [];
  #errors = 0;
  #firstError: string | null = null;

  add(ms: number, outcome: unknown): void {
    this.#latencies.push(ms);
    if (outcome === true) return;
    this.#errors += 1;
    this.#firstError ??=
      outcome === false
        ? 'wrong result'
        : outcome instanceof Error
          ? `${outcome.name}: ${outcome.message}`
          : String(outcome);
  }

  summary(): LatencyResult {
    const values = this.#latencies;
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    return {
      calls: values.length,
      p50Ms: round(percentile(values, 50)),
      p99Ms: round(percentile(values, 99)),
      opsPerSecond: round(1000 / mean, 1),
      errors: this.#errors,
      firstError: this.#firstError,
    };
  }
}

/** Reads every session in a child process of its own (bench/scale-iterate.ts). */
async function iterate(
  context: SuiteContext,
  collection: string,
  sessions: number,
  mode: IterationMode,
): Promise<IterationResult> {
  const args = [
    ...['--import', 'tsx', ITERATE_SCRIPT],
    ...['--uri', context.uri, '--database', context.databaseName],
    ...['--collection', collection, '--mode', mode],
  ];
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, args, {
      cwd: PROJECT_ROOT,
      timeout: ITERATION_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      maxBuffer: 1 << 20,
    }));
  } catch (error) {
    return { sessions, error: childFailure(error) };
  }
  const line = stdout.trim().split('\n').at(-1) ?? '';
  let report: IterationReport;
  try {
    report = JSON.parse(line) as IterationReport;
  } catch {
    return { sessions, error: `unreadable output: ${line.slice(0, 200)}` };
  }
  return {
    sessions,
    count: report.count,
    countMatches: report.count === sessions,
    ms: report.ms,
    sessionsPerSecond: Math.round(report.count / (report.ms / 1000)),
    maxRssMiB: report.maxRssMiB,
    baselineRssMiB: report.baselineRssMiB,
    peakGrowthMiB: round(report.maxRssMiB - report.baselineRssMiB, 1),
    sampledPeakGrowthMiB: round(report.sampledPeakRssMiB - report.baselineRssMiB, 1),
  };
}

function childFailure(error: unknown): string {
  const failed = error as { killed?: boolean; signal?: string | null; stderr?: string };
  if (failed.killed === true) return `timed out after ${ITERATION_TIMEOUT_MS / 60_000} min`;
  const stderr = (failed.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return `${failed.signal ? `killed by ${failed.signal}` : reason}${stderr ? `: ${stderr}` : ''}`;
}

function describeIteration(result: IterationResult): string {
  if ('error' in result) return `failed: ${result.error}`;
  const mismatch = result.countMatches ? '' : ` (read ${result.count} of ${result.sessions}!)`;
  return `${(result.ms / 1000).toFixed(1)} s, peak RSS +${result.peakGrowthMiB} MiB (sampled +${result.sampledPeakGrowthMiB} MiB) over ${result.baselineRssMiB} MiB${mismatch}`;
}

/**
 * `clear()` at each count reached up to the limit: on the growing collection when it is that
 * size, else on a collection seeded for it (the growing one is dropped first, untimed).
 */
async function measureClears(
  context: SuiteContext,
  client: MongoClient,
  results: readonly SizeResult[],
  reached: number,
  codec: SessionCodec,
  expires: Date,
): Promise<ClearResult[]> {
  const { databaseName, quick, progress } = context;
  const limit = quick ? QUICK_CLEAR_LIMIT : CLEAR_LIMIT;
  const database = client.db(databaseName);
  if (reached > limit) await database.dropCollection('scale').catch(() => undefined);
  const clears: ClearResult[] = [];
  let slow: number | undefined;
  for (const { sessions } of results) {
    if (sessions > limit) {
      const skipped = `above ${limit}: each ${DELETE_BATCH_SIZE}-session batch scans the whole collection on FerretDB 1.x, so clear() grows with the square of the count (hours at a million)`;
      clears.push({ sessions, skipped });
      continue;
    }
    if (slow !== undefined) {
      const skipped = `not measured: clear() of ${slow} sessions took more than ${CLEAR_GUARD_MS / 60_000} min`;
      clears.push({ sessions, skipped });
      continue;
    }
    const onMainCollection = sessions === reached;
    const collection = onMainCollection ? 'scale' : `scale_clear_${sessions}`;
    let seedSeconds = 0;
    if (!onMainCollection) {
      const seeder = new Seeder(
        database.collection<SessionDocument>(collection),
        codec,
        expires,
        progress,
      );
      await seeder.growTo(sessions, Number.POSITIVE_INFINITY);
      seedSeconds = round(seeder.ms / 1000, 1);
    }
    const measured = await timeClear(context, collection);
    clears.push({ sessions, ...measured, onMainCollection, seedSeconds });
    progress(
      `scale: ${sessions} sessions: clear() ${(measured.ms / 1000).toFixed(1)} s, length() after: ${measured.lengthAfter}`,
    );
    if (measured.ms > CLEAR_GUARD_MS) slow = sessions;
    if (!onMainCollection) await database.dropCollection(collection).catch(() => undefined);
  }
  return clears;
}

async function timeClear(
  context: SuiteContext,
  collection: string,
): Promise<{ ms: number; lengthAfter: number }> {
  const { uri, databaseName } = context;
  // No deadline: each batch of clear() is a full scan on FerretDB 1.x, longer than the 5 s default.
  const repository = new SessionRepository({
    uri,
    databaseName,
    collection,
    autoRemove: 'disabled',
    operationTimeoutMs: 0,
  });
  try {
    await repository.whenIndexed();
    const started = now();
    await repository.clear();
    const ms = round(now() - started, 1);
    return { ms, lengthAfter: await repository.length() };
  } finally {
    await repository.close();
  }
}

function goals(results: readonly SizeResult[]): ScaleGoals {
  const first = results[0];
  const last = results.at(-1);
  const ratio = (name: 'get' | 'set' | 'miss' | 'driverGet') =>
    first === undefined || last === undefined
      ? Number.NaN
      : round(last[name].p50Ms / first[name].p50Ms, 2);
  const p50Ratio = {
    get: ratio('get'),
    set: ratio('set'),
    miss: ratio('miss'),
    driverGet: ratio('driverGet'),
  };
  const growth = results.map(({ cursor }) => ('error' in cursor ? null : cursor.peakGrowthMiB));
  const smallest = growth[0];
  const largest = growth.at(-1);
  return {
    p50Ratio,
    // The store's operations; the driver's own lookup is there to tell the database's share.
    p50Flat: [p50Ratio.get, p50Ratio.set, p50Ratio.miss].every((value) => value <= P50_FLAT_RATIO),
    cursorPeakGrowthMiB: growth,
    cursorFlat:
      typeof smallest === 'number' &&
      typeof largest === 'number' &&
      largest - smallest < CURSOR_FLAT_ALLOWANCE_MiB,
  };
}

/** The result as plain-text tables. */
export function formatScale(result: ScaleResult): string {
  const { seeding, goals: judged } = result;
  const latency = table(
    [
      'sessions',
      'calls',
      'get p50',
      'get p99',
      'set p50',
      'set p99',
      'miss p50',
      'miss p99',
      'driver findOne p50',
      'errors',
    ],
    result.sizes.map(({ sessions, get, set, miss, driverGet }) => [
      String(sessions),
      String(Math.min(get.calls, set.calls, miss.calls)),
      ...[get, set, miss].flatMap(({ p50Ms, p99Ms }) => [cell(p50Ms, 2), cell(p99Ms, 2)]),
      cell(driverGet.p50Ms, 2),
      String(get.errors + set.errors + miss.errors + driverGet.errors),
    ]),
  );
  const iteration = table(
    ['sessions', 'cursor s', 'cursor +MiB', 'all() s', 'all() +MiB', 'counts'],
    result.sizes.map(({ sessions, cursor, all }) => [
      String(sessions),
      ...[cursor, all].flatMap((read) =>
        'error' in read ? ['failed', '-'] : [cell(read.ms / 1000), cell(read.peakGrowthMiB)],
      ),
      [cursor, all].every((read) => !('error' in read) && read.countMatches) ? 'ok' : 'MISMATCH',
    ]),
  );
  const clear = table(
    ['sessions', 'clear() s', 'length after', 'note'],
    result.clear.map((entry) =>
      'skipped' in entry
        ? [String(entry.sessions), '-', '-', entry.skipped]
        : [
            String(entry.sessions),
            cell(entry.ms / 1000),
            String(entry.lengthAfter),
            entry.onMainCollection
              ? 'growing collection'
              : `own collection, seeded in ${entry.seedSeconds} s`,
          ],
    ),
  );
  const { get, set, miss, driverGet } = judged.p50Ratio;
  return [
    `Seeded ${seeding.reached} of ${seeding.requested} sessions (${result.documentBytes} bytes each) in ${seeding.seconds} s (${seeding.sessionsPerSecond}/s)${seeding.stoppedBecause === null ? '' : `; stopped: ${seeding.stoppedBecause}`}`,
    '',
    'Latency, ms (concurrency 1)',
    latency,
    '',
    'Reading every session (peak RSS growth of a fresh process)',
    iteration,
    '',
    'clear()',
    clear,
    '',
    `p50 largest/smallest: get ${get}×, set ${set}×, miss ${miss}× (the driver's own findOne: ${driverGet}×; goal ≤ ${P50_FLAT_RATIO}×: ${judged.p50Flat ? 'met' : 'missed'})`,
    `cursor peak growth, MiB: ${judged.cursorPeakGrowthMiB.map((value) => value ?? '-').join(' → ')} (flat: ${judged.cursorFlat ? 'yes' : 'no'})`,
  ].join('\n');
}

async function main(): Promise<void> {
  const backend = process.env.BENCH_BACKEND ?? 'sqlite';
  if (backend !== 'sqlite' && backend !== 'postgresql') {
    throw new TypeError(`Expected BENCH_BACKEND to be sqlite or postgresql, got \`${backend}\``);
  }
  const database = await startDatabase(undefined, { backend: backend as Backend });
  try {
    console.error(`scale: ${database.description}`);
    const result = await runScale({
      uri: database.uri,
      backend: database.kind === 'external' ? 'external' : (backend as Backend),
      databaseName: 'bench_scale',
      quick: process.argv.includes('--quick'),
      progress: (line) => console.error(line),
    });
    console.log(formatScale(result));
    if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  } finally {
    await database.stop();
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) await main();
