/**
 * The repository against the raw driver: `get`, `set`, `touch` and `destroy` through
 * `SessionRepository`, and the minimal driver call with the same filter and update, on one
 * collection, at concurrency 1 and 32, sides interleaved within each round. What the store adds
 * is the difference; the driver's own time is the database's (with the driver and the loopback).
 * Also: what the connection gate costs once open, and how the backend plans every query shape
 * the store sends (`explain`).
 */
import { randomBytes } from 'node:crypto';
import { type Collection, type Document, MongoClient } from 'mongodb';
import { ConnectionGate } from '../lib/repository/connection-gate.js';
import { SessionRepository } from '../lib/repository/session-repository.js';
import {
  cell,
  type LoadResult,
  load,
  now,
  round,
  type Spread,
  type SuiteContext,
  spread,
  table,
} from './common.js';

const OPERATIONS = ['get', 'set', 'touch', 'destroy'] as const;
type Operation = (typeof OPERATIONS)[number];
const CONCURRENCIES = [1, 32] as const;
/** Sessions already in the collection besides those the operations use. */
const BACKGROUND_SESSIONS = 1_000;
const POOL = 256;
const DAY = 24 * 60 * 60 * 1000;

export interface DriverSide {
  readonly opsPerSecond: Spread;
  readonly p50Ms: Spread;
  readonly p99Ms: Spread;
  readonly errors: number;
}

export interface DriverRow {
  readonly operation: Operation;
  readonly concurrency: number;
  /** The minimal driver call with the same filter and update. */
  readonly driver: DriverSide;
  readonly repository: DriverSide;
  /** Repository ops/s over the driver's, taken per round (so both sides share the round's noise). */
  readonly ratio: Spread;
}

export interface QueryPlan {
  /** Which store operation sends this query. */
  readonly usedBy: string;
  readonly filter: string;
  /**
   * FerretDB: whether the backend evaluated the filter itself (`filterPushdown`); MongoDB: the
   * winning plan's stages, such as `IDHACK` or `IXSCAN` (`COLLSCAN` means a full scan).
   */
  readonly plan: string;
}

export interface DriverResult {
  readonly rounds: number;
  readonly secondsPerStep: number;
  readonly backgroundSessions: number;
  readonly rows: readonly DriverRow[];
  /** `gate.run(op)` against calling `op` directly, CPU only, in nanoseconds per call. */
  readonly gate: { readonly directNs: number; readonly gatedNs: number; readonly addedNs: number };
  readonly plans: readonly QueryPlan[];
}

/** A session as an app keeps it: a cookie, a user, a token, a counter (about 300 bytes). */
export function sampleSession(n: number, expires = new Date(Date.now() + DAY)) {
  return {
    cookie: { originalMaxAge: DAY, expires, secure: false, httpOnly: true, path: '/' },
    user: { id: `user-${n}`, name: `User Number ${n}`, roles: ['reader', 'writer'] },
    csrf: randomBytes(16).toString('hex'),
    visits: n,
  };
}

/** A session id as express-session makes them: 24 random bytes, base64url. */
export function sessionId(): string {
  return randomBytes(24).toString('base64url');
}

export async function runDriver(context: SuiteContext): Promise<DriverResult> {
  const { progress } = context;
  const rounds = context.quick ? 1 : 5;
  const stepMs = context.quick ? 300 : 1_500;
  const client = await new MongoClient(context.uri).connect();
  const repository = new SessionRepository({
    client,
    databaseName: context.databaseName,
    collection: 'driver',
    touchAfterMs: 0, // a touch always writes: lazy touch would send nothing to compare with
    autoRemove: 'disabled',
    // The driver side has no deadline; the repository's must not cut its slowest calls short.
    operationTimeoutMs: 120_000,
  });
  try {
    await repository.whenIndexed();
    const raw = client.db(context.databaseName).collection<Document>('driver');
    await seed(raw, BACKGROUND_SESSIONS);
    const sides = { driver: driverCalls(raw), repository: repositoryCalls(repository) };
    const pools = split(await seed(raw, 2 * POOL));
    // Each destroy deletes a session that exists: fresh pools, seeded before the clock starts.
    const poolsFor = async (operation: Operation, concurrency: number) =>
      operation === 'destroy' ? split(await seed(raw, Math.min(8_000, 800 * concurrency))) : pools;

    const samples = new Map<string, LoadResult[]>();
    const measure = async (
      side: 'driver' | 'repository',
      operation: Operation,
      concurrency: number,
      durationMs: number,
      ids: readonly string[],
    ) => {
      const call = sides[side][operation];
      let next = 0;
      const result = await load(
        () => {
          const id = ids[next % ids.length] as string;
          next += 1;
          return call(id, next);
        },
        concurrency,
        durationMs,
      );
      const key = `${operation}/${concurrency}/${side}`;
      samples.set(key, [...(samples.get(key) ?? []), result]);
    };

    progress(`driver: warm-up (${BACKGROUND_SESSIONS} background sessions)`);
    for (const operation of OPERATIONS) {
      const ids = await poolsFor(operation, 4);
      for (const side of ['driver', 'repository'] as const) {
        await measure(side, operation, 4, Math.min(stepMs, 500), ids[side]);
      }
    }
    samples.clear();
    for (let round = 0; round < rounds; round += 1) {
      for (const concurrency of CONCURRENCIES) {
        for (const operation of OPERATIONS) {
          // Alternate which side goes first, so that neither always follows the other.
          const order =
            round % 2 === 0
              ? (['driver', 'repository'] as const)
              : (['repository', 'driver'] as const);
          const ids = await poolsFor(operation, concurrency);
          for (const side of order) await measure(side, operation, concurrency, stepMs, ids[side]);
        }
        progress(`driver: round ${round + 1}/${rounds}, concurrency ${concurrency} done`);
      }
    }

    const rows: DriverRow[] = [];
    for (const concurrency of CONCURRENCIES) {
      for (const operation of OPERATIONS) {
        const driver = samples.get(`${operation}/${concurrency}/driver`) ?? [];
        const repo = samples.get(`${operation}/${concurrency}/repository`) ?? [];
        rows.push({
          operation,
          concurrency,
          driver: summarise(driver),
          repository: summarise(repo),
          ratio: spread(
            repo.map((sample, i) => sample.opsPerSecond / (driver[i]?.opsPerSecond ?? 0)),
          ),
        });
      }
    }
    const plans = await queryPlans(raw);
    await client.db(context.databaseName).dropDatabase();
    return {
      rounds,
      secondsPerStep: stepMs / 1000,
      backgroundSessions: BACKGROUND_SESSIONS,
      rows,
      gate: await gateCost(),
      plans,
    };
  } finally {
    await repository.close();
    await client.close();
  }
}

function summarise(samples: readonly LoadResult[]): DriverSide {
  return {
    opsPerSecond: spread(samples.map((sample) => sample.opsPerSecond)),
    p50Ms: spread(samples.map((sample) => sample.p50Ms)),
    p99Ms: spread(samples.map((sample) => sample.p99Ms)),
    errors: samples.reduce((sum, sample) => sum + sample.errors, 0),
  };
}

type Calls = Record<Operation, (id: string, n: number) => Promise<unknown>>;

/** The minimal driver calls with the filters and updates the repository sends. */
function driverCalls(raw: Collection<Document>): Calls {
  const session = (n: number) => sampleSession(n);
  return {
    get: (id) =>
      raw.findOne({ _id: id as never }, { projection: { _id: 0, session: 1, expires: 1 } }),
    set: (id, n) => {
      const value = session(n);
      return raw.updateOne(
        { _id: id as never },
        { $set: { session: value, expires: value.cookie.expires } },
        { upsert: true },
      );
    },
    touch: (id, n) => {
      const { cookie } = session(n);
      return raw.updateOne(
        { _id: id as never, expires: { $gt: new Date() } },
        { $set: { 'session.cookie': cookie, expires: cookie.expires } },
      );
    },
    destroy: (id) => raw.deleteMany({ _id: id as never }),
  };
}

function repositoryCalls(repository: SessionRepository): Calls {
  return {
    get: (id) => repository.get(id),
    set: (id, n) => repository.set(id, sampleSession(n)),
    touch: (id, n) => repository.touch(id, sampleSession(n)),
    destroy: (id) => repository.destroy(id),
  };
}

/**
 * Two pools of ids taken in turn from one list, so that both sides' sessions lie alike in the
 * collection: where a lookup scans (FerretDB 1.x), a session stored later is found later.
 */
function split(ids: readonly string[]): { driver: string[]; repository: string[] } {
  return {
    driver: ids.filter((_, i) => i % 2 === 0),
    repository: ids.filter((_, i) => i % 2 === 1),
  };
}

/** Inserts `count` sessions in the store's form and returns their ids. */
async function seed(raw: Collection<Document>, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 1_000) {
    const batch = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => {
      const id = sessionId();
      ids.push(id);
      const session = sampleSession(start + i);
      return { _id: id as never, session, expires: session.cookie.expires };
    });
    await raw.insertMany(batch, { ordered: false });
  }
  return ids;
}

/** The gate's CPU cost once open: a trivial async operation through `gate.run` and called directly. */
async function gateCost() {
  const gate = new ConnectionGate(async () => 'open', { maxPending: 10, timeoutMs: 5_000 });
  await gate.run('op', async () => undefined);
  const operation = async (value: string) => value.length;
  const perCall = async (calls: number, body: () => Promise<unknown>) => {
    const started = now();
    for (let i = 0; i < calls; i += 1) await body();
    return ((now() - started) * 1e6) / calls;
  };
  const direct: number[] = [];
  const gated: number[] = [];
  for (let round = 0; round < 5; round += 1) {
    direct.push(await perCall(100_000, () => operation('open')));
    gated.push(await perCall(100_000, () => gate.run('op', operation)));
  }
  await gate.close();
  const directNs = round(spread(direct).median, 0);
  const gatedNs = round(spread(gated).median, 0);
  return { directNs, gatedNs, addedNs: gatedNs - directNs };
}

/** How the backend runs each query shape the store sends, from `explain` of the equivalent `find`. */
async function queryPlans(raw: Collection<Document>): Promise<QueryPlan[]> {
  const date = new Date();
  const shapes: Array<[string, Document, Document?]> = [
    ['get, set (upsert), destroy of one id', { _id: 'some-id' }],
    ['touch (update)', { _id: 'some-id', expires: { $gt: date } }],
    ['destroy of several ids', { _id: { $in: ['a', 'b'] } }],
    ['length, ids, all, iteration', { expires: { $gt: date } }],
    ['sweep: the batch edge', { expires: { $lte: date } }, { _id: 1 }],
    ['sweep: the batch delete', { expires: { $lte: date }, _id: { $lte: 'some-id' } }],
  ];
  const plans: QueryPlan[] = [];
  for (const [usedBy, filter, sort] of shapes) {
    const cursor = raw.find(filter, sort === undefined ? {} : { sort, limit: 1 });
    const explained = (await cursor.explain()) as Document;
    plans.push({ usedBy, filter: JSON.stringify(filter), plan: planOf(explained) });
  }
  return plans;
}

function planOf(explained: Document): string {
  if (typeof explained.filterPushdown === 'boolean') {
    const sort =
      typeof explained.sortPushdown === 'boolean' ? `, sortPushdown ${explained.sortPushdown}` : '';
    return `filterPushdown ${explained.filterPushdown}${sort}`;
  }
  const stages: string[] = [];
  const visit = (stage: Document | undefined) => {
    if (stage === undefined) return;
    if (typeof stage.stage === 'string') stages.push(stage.stage);
    visit(stage.inputStage as Document | undefined);
  };
  visit((explained.queryPlanner as Document | undefined)?.winningPlan as Document | undefined);
  return stages.join(' < ') || 'unknown';
}

export function formatDriver(result: DriverResult): string {
  const rows = result.rows.map((row) => [
    row.operation,
    String(row.concurrency),
    cell(row.driver.opsPerSecond.median, 0),
    cell(row.repository.opsPerSecond.median, 0),
    `${cell(row.ratio.median, 2)} (${cell(row.ratio.min, 2)}–${cell(row.ratio.max, 2)})`,
    `${cell(row.driver.p50Ms.median, 2)} / ${cell(row.repository.p50Ms.median, 2)}`,
    `${cell(row.driver.p99Ms.median, 1)} / ${cell(row.repository.p99Ms.median, 1)}`,
    String(row.driver.errors + row.repository.errors),
  ]);
  const plans = result.plans.map((plan) => [plan.usedBy, plan.filter, plan.plan]);
  return [
    table(
      [
        'op',
        'conc',
        'driver op/s',
        'repo op/s',
        'ratio (range)',
        'p50 ms drv/repo',
        'p99 ms drv/repo',
        'errors',
      ],
      rows,
    ),
    `gate.run once open: ${result.gate.gatedNs} ns against ${result.gate.directNs} ns for a direct call (${result.gate.addedNs} ns added)`,
    table(['query', 'filter', 'plan'], plans),
  ].join('\n\n');
}
