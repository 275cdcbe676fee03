/**
 * Fault specs: close() under load. Running operations finish or reject cleanly, a running
 * iterator ends with StoreClosedError (never silently), new operations are refused, a client
 * promise that never settles does not hang close(), nothing is emitted after it, and a process
 * that closes its store exits by itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { SessionData } from 'express-session';
import { type Document, MongoClient } from 'mongodb';
import { MongoDBStore, SessionRepository, StoreClosedError } from '../lib/index.js';
import {
  assertStoreError,
  type CountedSession,
  countEvents,
  ms,
  sessionFor,
  TIMING_MARGIN_MS,
  timed,
  until,
} from './support/faults.js';
import { useFerretDBServers } from './support/ferretdb-process.js';
import { closedPort } from './support/tcp-proxy.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const servers = useFerretDBServers();
const escapes = useUnhandledRejectionRecorder();

const DEADLINE_MS = 2_000;
const HOUR_MS = 60 * 60 * 1000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/store-lifecycle.ts', import.meta.url));

/** A promise that never settles, as a client factory stuck on DNS or a secret manager would be. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

test('close() under load lets running operations settle cleanly, then refuses every new one with StoreClosedError', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const repository = new SessionRepository<CountedSession>({
    uri: `${server.uri}faults`,
    collection: 'close_under_load',
    operationTimeoutMs: DEADLINE_MS,
  });
  t.after(() => repository.close());
  await repository.set('seed', sessionFor(0));

  const codes = new Map<string, number>();
  const running = Array.from({ length: 300 }, (_, i) => {
    const sid = `load-${i % 60}`;
    const operation = [
      () => repository.set(sid, sessionFor(i)),
      () => repository.get(sid),
      () => repository.touch(sid, sessionFor(i)),
      () => repository.destroy(sid),
      () => repository.length(),
    ][i % 5] as () => Promise<unknown>;
    return timed(operation).then((outcome) => {
      const code = outcome.ok ? 'ok' : assertStoreError(outcome.error).code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      return outcome;
    });
  });
  await until(() => (codes.get('ok') ?? 0) >= 20, 10_000, 'operations did not start succeeding');
  const closing = timed(() => repository.close());
  const outcomes = await Promise.all(running);
  const closed = await closing;

  assert.ok(closed.ok, 'close() rejected');
  assert.ok(
    closed.ms <= DEADLINE_MS + TIMING_MARGIN_MS,
    `close() took ${ms(closed.ms)} with operations running`,
  );
  const slowest = Math.max(...outcomes.map((outcome) => outcome.ms));
  assert.ok(slowest <= DEADLINE_MS + TIMING_MARGIN_MS, `an operation took ${ms(slowest)}`);
  // Issued before close(), so carried out: any failure is the database's, not a refusal.
  assert.equal(
    codes.get('STORE_CLOSED'),
    undefined,
    'operations issued before close() were refused',
  );
  t.diagnostic(
    `300 operations, close() after 20 succeeded: ${JSON.stringify(Object.fromEntries(codes))}; close() took ${ms(closed.ms)}`,
  );

  const afterClose: Record<string, () => Promise<unknown>> = {
    get: () => repository.get('seed'),
    set: () => repository.set('seed', sessionFor(1)),
    touch: () => repository.touch('seed', sessionFor(1)),
    destroy: () => repository.destroy('seed'),
    length: () => repository.length(),
    ids: () => repository.ids(),
    all: () => repository.all(),
    clear: () => repository.clear(),
    ready: () => repository.ready(),
    'sessions().next': () => repository.sessions().next(),
  };
  for (const [name, run] of Object.entries(afterClose)) {
    const outcome = await timed(run);
    assert.ok(!outcome.ok, `${name} succeeded after close()`);
    assert.ok(outcome.error instanceof StoreClosedError, `${name}: ${String(outcome.error)}`);
    assert.equal(outcome.error.code, 'STORE_CLOSED');
    assert.ok(outcome.ms < 100, `${name} took ${ms(outcome.ms)} to be refused`);
  }
  escapes.assertNone();
});

test('the store refuses callbacks after close() with StoreClosedError, once each', {
  timeout: 30_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const store = new MongoDBStore({ uri: `${server.uri}faults`, collection: 'close_callbacks' });
  await store.repository.ready();
  await new Promise<void>((resolve, reject) =>
    store.close((error) => (error ? reject(error) : resolve())),
  );
  const calls: unknown[] = [];
  await new Promise<void>((resolve) =>
    store.get('anything', (error) => {
      calls.push(error);
      resolve();
    }),
  );
  await new Promise<void>((resolve) =>
    store.set('anything', sessionFor(1) as unknown as SessionData, (error) => {
      calls.push(error);
      resolve();
    }),
  );
  await delay(50);
  assert.equal(calls.length, 2);
  for (const error of calls) assert.ok(error instanceof StoreClosedError, String(error));
  escapes.assertNone();
});

test('a running sessions() iterator ends with StoreClosedError on its next step after close(), never silently', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const total = 1_200;
  await seed(server.uri, 'close_iterator', total);
  const repository = new SessionRepository<CountedSession>({
    uri: `${server.uri}faults`,
    collection: 'close_iterator',
    operationTimeoutMs: DEADLINE_MS,
  });
  t.after(() => repository.close());

  const iterator = repository.sessions();
  const seen = new Set<number>();
  // Slowly, as a job that does some work per session would.
  while (seen.size < 100) {
    const step = await iterator.next();
    assert.equal(step.done, false, 'the iterator ended early');
    if (step.done === false) seen.add(step.value.session.n);
    await delay(1);
  }
  // The consumer is paused between two steps: close() must not wait for it.
  const closed = await timed(() => repository.close());
  assert.ok(closed.ok, 'close() rejected');
  assert.ok(closed.ms <= DEADLINE_MS, `close() took ${ms(closed.ms)} with an iterator open`);

  const next = await timed(() => iterator.next());
  assert.ok(
    !next.ok,
    `the next step after close() ${next.ok && next.value.done ? 'ended the iteration silently' : 'yielded a session'}`,
  );
  assert.ok(next.error instanceof StoreClosedError, String(next.error));
  const after = await iterator.next();
  assert.equal(after.done, true, 'the iterator stays ended');
  t.diagnostic(
    `${seen.size} of ${total} sessions read, then close() in ${ms(closed.ms)}; the next step rejected with ${next.error.name}`,
  );
  escapes.assertNone();
});

test('close() with a clientPromise that never settles resolves at once when nothing waits', {
  timeout: 30_000,
}, async () => {
  for (const clientPromise of [never<MongoClient>(), () => never<MongoClient>()]) {
    const kind = typeof clientPromise === 'function' ? 'function' : 'promise';
    const repository = new SessionRepository({ clientPromise });
    const closed = await timed(() => repository.close());
    assert.ok(closed.ok, `${kind}: close() rejected`);
    assert.ok(closed.ms <= 500, `${kind}: close() took ${ms(closed.ms)}`);
  }
  escapes.assertNone();
});

test('close() of a MongoDBStore whose clientPromise never settles resolves at once, with no event after it', {
  timeout: 30_000,
}, async (t) => {
  // The constructor's own readiness check waits for the connection; close() must not wait for it.
  const store = new MongoDBStore({ clientPromise: never<MongoClient>() });
  const events = countEvents(store, ['connected', 'connect']);
  const closed = await timed(() => store.close());
  assert.ok(closed.ok, 'close() rejected');
  t.diagnostic(`close() took ${ms(closed.ms)} (operationTimeoutMs: the default 5 000 ms)`);
  assert.ok(closed.ms <= 500, `close() took ${ms(closed.ms)}`);
  assert.equal(events.count('connected'), 0);
  assert.equal(events.count('connect'), 0);
  escapes.assertNone();
});

test('close() with a clientPromise that never settles lets a waiting operation settle by its deadline, not hang', {
  timeout: 30_000,
}, async (t) => {
  for (const clientPromise of [never<MongoClient>(), () => never<MongoClient>()]) {
    const kind = typeof clientPromise === 'function' ? 'function' : 'promise';
    const repository = new SessionRepository({ clientPromise, operationTimeoutMs: 1_000 });
    const waiting = timed(() => repository.get('anything'));
    const closed = await timed(() => repository.close());
    assert.ok(closed.ok, `${kind}: close() rejected`);
    assert.ok(closed.ms <= 1_000 + TIMING_MARGIN_MS, `${kind}: close() took ${ms(closed.ms)}`);
    const outcome = await waiting;
    assert.ok(!outcome.ok, `${kind}: the operation succeeded without a client`);
    assertStoreError(outcome.error, ['STORE_CLOSED', 'OPERATION_TIMEOUT']);
    assert.ok(outcome.ms <= 1_000 + TIMING_MARGIN_MS, `${kind}: settled after ${ms(outcome.ms)}`);
    t.diagnostic(
      `${kind}: close() took ${ms(closed.ms)}; the waiting get ended with ${(outcome.error as Error).name} after ${ms(outcome.ms)}`,
    );
  }
  escapes.assertNone();
});

test('close() with a clientPromise that never settles and no deadline (operationTimeoutMs: 0) still resolves, refusing the waiting operation', {
  timeout: 30_000,
}, async () => {
  const repository = new SessionRepository({
    clientPromise: never<MongoClient>(),
    operationTimeoutMs: 0,
  });
  const waiting = timed(() => repository.get('anything'));
  const closed = await within(repository.close(), 3_000);
  assert.ok(closed !== 'timed out', "the repository's close() had not resolved after 3 s");
  const outcome = await within(waiting, 1_000);
  assert.ok(outcome !== 'timed out', 'the waiting get had not settled 1 s after close()');
  assert.ok(
    !outcome.ok && outcome.error instanceof StoreClosedError,
    String(!outcome.ok && outcome.error),
  );

  const store = new MongoDBStore({ clientPromise: never<MongoClient>(), operationTimeoutMs: 0 });
  assert.ok(
    (await within(store.close(), 3_000)) !== 'timed out',
    "the store's close() had not resolved after 3 s (its constructor's readiness check waits forever)",
  );
  escapes.assertNone();
});

test('connected is never emitted after close(), even when the connection completes afterwards', {
  timeout: 30_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;

  // A client of the user's own that connects only once the store is closed.
  let resolveClient: (client: MongoClient) => void = () => undefined;
  const late = new Promise<MongoClient>((resolve) => {
    resolveClient = resolve;
  });
  const lateStore = new MongoDBStore({
    clientPromise: late,
    collection: 'close_late_client',
    // close() waits for the constructor's readiness check up to this deadline (see above).
    operationTimeoutMs: 1_000,
  });
  const lateEvents = countEvents(lateStore, ['connected', 'connect', 'error']);
  await lateStore.close();
  const client = await new MongoClient(server.uri).connect();
  t.after(() => client.close());
  resolveClient(client);

  // A store whose own connection attempt is under way when it is closed.
  const racing = new MongoDBStore({ uri: `${server.uri}faults`, collection: 'close_racing' });
  const racingEvents = countEvents(racing, ['connected', 'connect']);
  const racingClosed = racing.close();

  // Both connections would be up well within this; the control store shows it.
  const control = new MongoDBStore({ uri: `${server.uri}faults`, collection: 'close_control' });
  t.after(() => control.close());
  const controlEvents = countEvents(control, ['connected']);
  await until(
    () => controlEvents.count('connected') > 0,
    10_000,
    'the control store never connected',
  );
  await racingClosed;
  await delay(300);

  assert.equal(lateEvents.count('connected'), 0, 'connected after close() (client promise)');
  assert.equal(lateEvents.count('connect'), 0);
  assert.equal(racingEvents.count('connected'), 0, 'connected after close() (own client)');
  assert.equal(racingEvents.count('connect'), 0);
  const reply = await client.db('admin').command({ ping: 1 });
  assert.equal(reply.ok, 1, "the store did not close the user's client");
  escapes.assertNone();
});

test('a process that uses a store and closes it exits by itself within a few seconds', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const absent = `mongodb://127.0.0.1:${await closedPort()}/`;
  const runs = await Promise.all([
    runFixture('store', server.uri),
    runFixture('in-flight', server.uri),
    runFixture('iterator', server.uri),
    runFixture('absent', absent),
    runFixture('sweeping', server.uri),
  ]);
  for (const run of runs) {
    t.diagnostic(
      `${run.scenario}: exit ${run.code} ${ms(run.exitAfterCloseMs)} after close(); ${run.outcomes.join(', ')}`,
    );
    assert.equal(run.code, 0, `${run.scenario} exited with ${run.code}: ${run.stderr}`);
    assert.ok(
      run.exitAfterCloseMs <= 3_000,
      `${run.scenario}: the process lived ${ms(run.exitAfterCloseMs)} after close()`,
    );
    assert.ok(
      run.outcomes.at(-1) === 'after close: STORE_CLOSED' ||
        ['iterator', 'sweeping'].includes(run.scenario),
      `${run.scenario}: ${run.outcomes.at(-1)}`,
    );
  }
  const byScenario = Object.fromEntries(runs.map((run) => [run.scenario, run.outcomes]));
  assert.deepEqual(byScenario.store, ['ok', 'ok', 'ok', 'ok', 'after close: STORE_CLOSED']);
  assert.deepEqual(byScenario.iterator, ['stepped', 'STORE_CLOSED']);
  assert.deepEqual(
    byScenario.sweeping,
    ['ok', 'swept ok'],
    'the sweep timer keeps no process alive',
  );
  for (const outcome of byScenario['in-flight'] ?? []) {
    assert.ok(['ok', 'after close: STORE_CLOSED'].includes(outcome), `in-flight: ${outcome}`);
  }
  escapes.assertNone();
});

/** `promise`'s value, or `'timed out'` if it has not settled within `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Inserts `count` sessions in the stored form, in one command (much faster than one set each). */
async function seed(uri: string, collection: string, count: number): Promise<void> {
  const client = await new MongoClient(uri).connect();
  try {
    const expires = new Date(Date.now() + HOUR_MS);
    const documents: Document[] = Array.from({ length: count }, (_, n) => ({
      _id: `seeded-${n}`,
      session: { n, cookie: { originalMaxAge: HOUR_MS, expires, httpOnly: true, path: '/' } },
      expires,
    }));
    await client.db('faults').collection(collection).insertMany(documents);
  } finally {
    await client.close();
  }
}

interface FixtureRun {
  readonly scenario: string;
  readonly code: number | null;
  readonly outcomes: readonly string[];
  readonly exitAfterCloseMs: number;
  readonly stderr: string;
}

/** Runs the lifecycle fixture with `node --import tsx`; kills it after 20 s at the latest. */
async function runFixture(scenario: string, uri: string): Promise<FixtureRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, MONGODB_URI: uri, SCENARIO: scenario },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let stdout = '';
  let stderr = '';
  let closedAt: number | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (closedAt === undefined && stdout.includes('\n')) closedAt = performance.now();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const exitedAt = performance.now();
  clearTimeout(killer);
  const line = stdout.split('\n', 1)[0] ?? '';
  const parsed = line === '' ? { outcomes: [] } : (JSON.parse(line) as { outcomes: string[] });
  return {
    scenario,
    code,
    outcomes: parsed.outcomes,
    exitAfterCloseMs: closedAt === undefined ? Number.POSITIVE_INFINITY : exitedAt - closedAt,
    stderr,
  };
}
