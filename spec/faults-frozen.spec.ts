/**
 * Fault specs: the database is frozen (SIGSTOP), so connections stay open and nothing answers,
 * as with a stalled disk or a paused VM. Operations must fail at their deadline, not after the
 * driver's 30 s connect timeout or a TCP timeout, and work again once the server resumes; under
 * load, the store must refuse what it cannot send, at once, so that the server has nothing stale
 * to work off when it resumes. The two load specs run one after the other (in one file), so that
 * neither measures the capacity of a machine the other is loading.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoDBStore, SessionRepository } from '../lib/index.js';
import {
  assertStoreError,
  type CountedSession,
  countEvents,
  ms,
  sessionFor,
  TIMING_MARGIN_MS,
  timed,
} from './support/faults.js';
import { useFerretDBServers } from './support/ferretdb-process.js';
import { HttpClient } from './support/http.js';
import { type ErrorReply, startSessionApp } from './support/session-app.js';
import {
  backendCapacity,
  firstSuccessAfter,
  IDLE_SESSIONS,
  OPERATIONS_PER_REQUEST,
  offerSteadyLoad,
  percentile,
  type Sample,
  sessionRequests,
  storeIdleSessions,
  successesBetween,
  tally,
} from './support/steady-load.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const servers = useFerretDBServers();
const escapes = useUnhandledRejectionRecorder();

const DEADLINE_MS = 1_000;

test('operations on a frozen database reject with OperationTimeoutError at their deadline, and succeed again once it resumes', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const repository = new SessionRepository<CountedSession>({
    uri: `${server.uri}faults`,
    collection: 'frozen',
    operationTimeoutMs: DEADLINE_MS,
    // Every touch writes, so that the touch below meets the frozen server.
    touchAfterMs: 0,
  });
  t.after(() => repository.close());
  await repository.set('before-freeze', sessionFor(1));
  assert.equal((await repository.get('before-freeze'))?.n, 1);

  server.freeze();
  const operations: Record<string, () => Promise<unknown>> = {
    get: () => repository.get('before-freeze'),
    set: () => repository.set('during-freeze', sessionFor(2)),
    touch: () => repository.touch('before-freeze', sessionFor(1)),
    destroy: () => repository.destroy('before-freeze'),
    length: () => repository.length(),
  };
  const outcomes = await Promise.all(
    Object.entries(operations).map(async ([name, run]) => ({ name, ...(await timed(run)) })),
  );
  for (const outcome of outcomes) {
    assert.ok(!outcome.ok, `${outcome.name} succeeded against a frozen server`);
    const error = assertStoreError(outcome.error, ['OPERATION_TIMEOUT']);
    assert.equal(error.name, 'OperationTimeoutError');
    assert.ok(
      outcome.ms >= DEADLINE_MS - 50,
      `${outcome.name} gave up early, after ${ms(outcome.ms)}`,
    );
    assert.ok(
      outcome.ms <= DEADLINE_MS + TIMING_MARGIN_MS,
      `${outcome.name} rejected after ${ms(outcome.ms)}, deadline ${DEADLINE_MS} ms`,
    );
  }
  t.diagnostic(
    `frozen: ${outcomes.map((outcome) => `${outcome.name} ${ms(outcome.ms)}`).join(', ')} (deadline ${DEADLINE_MS} ms)`,
  );

  server.thaw();
  const after = await timed(() => repository.get('before-freeze'));
  assert.ok(after.ok, `the first get after SIGCONT failed: ${String(!after.ok && after.error)}`);
  await repository.set('after-thaw', sessionFor(3));
  assert.equal((await repository.get('after-thaw'))?.n, 3);
  t.diagnostic(`first get after SIGCONT took ${ms(after.ms)}`);
  escapes.assertNone();
});

test('connecting to a frozen database rejects at the deadline, and a store made then connects once it resumes', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  server.freeze();
  // The kernel still accepts the TCP connection of a stopped process; only the handshake hangs.
  const repository = new SessionRepository<CountedSession>({
    uri: `${server.uri}faults`,
    collection: 'frozen_connect',
    operationTimeoutMs: DEADLINE_MS,
  });
  t.after(() => repository.close());
  const first = await timed(() => repository.get('anything'));
  assert.ok(!first.ok, 'a get succeeded against a frozen server');
  assertStoreError(first.error, ['OPERATION_TIMEOUT']);
  assert.ok(
    first.ms <= DEADLINE_MS + TIMING_MARGIN_MS,
    `rejected after ${ms(first.ms)}, deadline ${DEADLINE_MS} ms`,
  );
  t.diagnostic(`connecting to a frozen server: rejected after ${ms(first.ms)}`);

  server.thaw();
  // The default server-selection timeout (3 s) is longer than this deadline, so the first
  // attempts after SIGCONT may still be waiting on the old handshake; the store must recover by
  // itself within a few deadlines.
  const recoveredAt = await recover(() => repository.set('after-thaw', sessionFor(4)), 10_000);
  assert.equal((await repository.get('after-thaw'))?.n, 4);
  t.diagnostic(`first successful set ${ms(recoveredAt)} after SIGCONT`);
  escapes.assertNone();
});

test('an app on a frozen database answers 500 at the deadline, not after the driver timeouts', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const store = new MongoDBStore({
    uri: `${server.uri}faults`,
    collection: 'frozen_app',
    operationTimeoutMs: DEADLINE_MS,
  });
  const events = countEvents(store, ['error']);
  t.after(() => store.close());
  await store.repository.ready();
  const app = await startSessionApp(t, store);
  const browser = new HttpClient(app.url);
  assert.equal((await browser.post('/sessions')).status, 200);

  server.freeze();
  const outcomes = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      timed(() => (i % 2 === 0 ? browser.get('/sessions/current') : browser.post('/sessions'))),
    ),
  );
  for (const outcome of outcomes) {
    assert.ok(outcome.ok, 'the HTTP request itself failed');
    assert.equal(outcome.value.status, 500, outcome.value.body);
    assert.equal((JSON.parse(outcome.value.body) as ErrorReply).code, 'OPERATION_TIMEOUT');
    assert.ok(outcome.ms <= DEADLINE_MS + TIMING_MARGIN_MS, `answered after ${ms(outcome.ms)}`);
  }
  server.thaw();
  const after = await browser.get('/sessions/current');
  assert.equal(after.status, 200, after.body);
  assert.equal(events.count('error'), 0, 'timeouts of single operations are not store errors');
  escapes.assertNone();
});

const LONG_FREEZE_MS = 20_000;
/** The default `operationTimeoutMs`, which the long freeze runs with. */
const DEFAULT_DEADLINE_MS = 5_000;

test('under steady load, a 20 s freeze is met with refusals at once, and the first request succeeds within 1 s of SIGCONT', {
  timeout: 120_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const uri = `${server.uri}faults`;
  // Heavier work for the database, so that the app's own stays small beside it.
  await storeIdleSessions(uri, 'frozen_load', IDLE_SESSIONS);
  // The defaults: a 5 s deadline and 10 000 pending operations at most.
  const store = new MongoDBStore({ uri, collection: 'frozen_load' });
  t.after(() => store.close());
  await store.repository.whenIndexed();
  const app = await startSessionApp(t, store);
  const request = await sessionRequests(app.url);
  // Half of what the database sustains: what it has to work off when it resumes, unless the
  // store refuses it, is ten seconds of its work.
  const capacity = await backendCapacity(uri, 'frozen_load');
  const rate = Math.min(capacity / 2 / OPERATIONS_PER_REQUEST, 300);
  const load = offerSteadyLoad(rate, request, Math.ceil(rate * 30));
  await delay(3_000);
  const frozenAt = performance.now();
  server.freeze();
  await delay(LONG_FREEZE_MS);
  const thawedAt = performance.now();
  server.thaw();
  await delay(5_000);
  await load.stop();

  const { samples } = load;
  // Requests alternate: even ones write (a read, then a write), odd ones read.
  const first = {
    write: firstSuccessAfter(
      samples.filter((_, i) => i % 2 === 0),
      thawedAt,
    ),
    read: firstSuccessAfter(
      samples.filter((_, i) => i % 2 === 1),
      thawedAt,
    ),
  };
  const issued = (from: number, to: number) =>
    samples.filter((sample) => sample.issuedAt >= from && sample.issuedAt < to);
  // Once the first operation sent has outlived its deadline, the store knows the server stalled.
  const knownStalled = issued(frozenAt + DEFAULT_DEADLINE_MS + TIMING_MARGIN_MS, thawedAt);
  const answerMs = knownStalled.map((sample) => sample.settledAt - sample.issuedAt);
  const recovered = issued(thawedAt + 1_000, thawedAt + 5_000);
  t.diagnostic(
    `capacity ${capacity.toFixed(0)} operations/s; ${rate.toFixed(0)} requests/s: before the freeze ${JSON.stringify(tally(issued(0, frozenAt)))}; during it ${JSON.stringify(tally(issued(frozenAt, thawedAt)))}; after SIGCONT ${JSON.stringify(tally(issued(thawedAt, Number.POSITIVE_INFINITY)))}`,
  );
  t.diagnostic(
    `once the stall was known, requests were answered in ${ms(percentile(answerMs, 50))} (median), ${ms(percentile(answerMs, 95))} (95th percentile)`,
  );
  t.diagnostic(
    `after SIGCONT, first write ${first.write === undefined ? 'never' : ms(first.write)}, first read ${first.read === undefined ? 'never' : ms(first.read)}; successes in the seconds after it: ${perSecond(samples, thawedAt, 5)}`,
  );

  assert.ok(successesBetween(samples, 0, frozenAt) > 0, 'nothing succeeded before the freeze');
  for (const sample of issued(frozenAt, thawedAt - DEFAULT_DEADLINE_MS - TIMING_MARGIN_MS)) {
    assert.ok(!sample.ok, 'a request succeeded on a frozen server');
  }
  for (const { code } of samples) {
    assert.ok(
      code === undefined || ['OPERATION_TIMEOUT', 'OVERLOADED'].includes(code),
      `a request failed with ${code}`,
    );
  }
  assert.ok(
    percentile(answerMs, 90) < 1_000,
    `with the server known to be stalled, requests still waited: 90th percentile ${ms(percentile(answerMs, 90))}`,
  );
  // Reads alone would not tell: on FerretDB they pass writes that the database still works off.
  for (const [kind, after] of Object.entries(first)) {
    assert.ok(after !== undefined && after <= 1_000, `first ${kind} ${after} ms after SIGCONT`);
  }
  const succeeded = recovered.filter((sample) => sample.ok).length;
  assert.ok(
    succeeded >= recovered.length * 0.8,
    `from 1 s after SIGCONT, only ${succeeded} of ${recovered.length} requests succeeded`,
  );
  escapes.assertNone();
});

test('under twice the load the database sustains, requests keep succeeding, and succeed again within 3 s of the end of a freeze', {
  timeout: 120_000,
  todo: 'successes resume within 0.6 s of the end of the freeze, but in one of four fresh-clone CI runs FerretDB on SQLite answered about a tenth of the writes under this load with an error (OperationError) that no retry cured, which this spec counts as a failure',
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  // The defaults: a 5 s deadline and 10 000 pending operations at most.
  const uri = `${server.uri}faults`;
  // The database, not the app, must be what cannot keep up: the idle sessions make its work
  // heavier, so that twice its capacity stays a load this process drives easily.
  await storeIdleSessions(uri, 'overload', IDLE_SESSIONS);
  const store = new MongoDBStore({ uri, collection: 'overload' });
  t.after(() => store.close());
  await store.repository.whenIndexed();
  const app = await startSessionApp(t, store);
  const request = await sessionRequests(app.url);
  const capacity = await backendCapacity(uri, 'overload');
  assert.ok(capacity > 0, 'nothing succeeded while measuring capacity');
  // Twice what the database sustains, in requests: a write request sends a read and a write.
  const offered = (2 * capacity) / OPERATIONS_PER_REQUEST;
  const freezeMs = 10_000;
  const load = offerSteadyLoad(offered, request, Math.ceil(offered * 30));
  await delay(3_000);
  const frozenAt = performance.now();
  server.freeze();
  await delay(freezeMs);
  const thawedAt = performance.now();
  server.thaw();
  await delay(10_000);
  const stoppedAt = performance.now();
  await load.stop();

  const { samples } = load;
  // Requests alternate: even ones write (a read, then a write), odd ones read.
  const writes = samples.filter((_, i) => i % 2 === 0);
  const reads = samples.filter((_, i) => i % 2 === 1);
  const first = {
    write: firstSuccessAfter(writes, thawedAt),
    read: firstSuccessAfter(reads, thawedAt),
  };
  const seconds = (kind: readonly Sample[]) =>
    Array.from({ length: 10 }, (_, i) =>
      successesBetween(kind, thawedAt + i * 1_000, thawedAt + (i + 1) * 1_000),
    ).join(', ');
  const lateRate = (kind: readonly Sample[]) =>
    (successesBetween(kind, thawedAt + 3_000, stoppedAt) * 1_000) / (stoppedAt - thawedAt - 3_000);
  const beforeRate = (successesBetween(samples, 0, frozenAt) * 1_000) / 3_000;
  const capacityInRequests = capacity / OPERATIONS_PER_REQUEST;
  const answerMs = samples.map((sample) => sample.settledAt - sample.issuedAt);
  t.diagnostic(
    `capacity ${capacity.toFixed(0)} operations/s (${capacityInRequests.toFixed(0)} requests/s); offered ${offered.toFixed(0)} requests/s: ${JSON.stringify(tally(samples))}`,
  );
  t.diagnostic(
    `${beforeRate.toFixed(0)} successes/s before the ${freezeMs / 1_000} s freeze; after SIGCONT, first write ${msOrNever(first.write)}, first read ${msOrNever(first.read)}`,
  );
  t.diagnostic(
    `successes after SIGCONT, second by second: writes ${seconds(writes)}; reads ${seconds(reads)} (from 3 s on ${lateRate(samples).toFixed(0)}/s, ${((100 * lateRate(samples)) / capacityInRequests).toFixed(0)} % of capacity)`,
  );
  t.diagnostic(
    `after SIGCONT, writes ${JSON.stringify(tally(writes.filter((sample) => sample.issuedAt >= thawedAt)))}, reads ${JSON.stringify(tally(reads.filter((sample) => sample.issuedAt >= thawedAt)))}`,
  );
  t.diagnostic(
    `answered in ${ms(percentile(answerMs, 50))} (median), ${ms(percentile(answerMs, 99))} (99th percentile), ${ms(Math.max(...answerMs))} (slowest)`,
  );

  // Reads alone would not tell: on FerretDB they pass writes that the database still works off.
  for (const [kind, after] of Object.entries(first)) {
    assert.ok(after !== undefined && after <= 3_000, `first ${kind} ${after} ms after SIGCONT`);
  }
  // Far less than capacity on a busy machine, but never next to none.
  for (const [kind, of] of [
    ['writes', writes],
    ['reads', reads],
  ] as const) {
    assert.ok(
      lateRate(of) >= capacityInRequests / 20,
      `from 3 s after SIGCONT only ${lateRate(of).toFixed(1)} ${kind}/s succeeded, capacity ${capacityInRequests.toFixed(0)} requests/s`,
    );
  }
  for (const { code } of samples) {
    assert.ok(
      code === undefined || ['OPERATION_TIMEOUT', 'OVERLOADED', 'QUEUE_FULL'].includes(code),
      `a request failed with ${code}`,
    );
  }
  // A write request sends two operations, one after the other, each with its deadline.
  assert.ok(
    Math.max(...answerMs) <= 2 * DEFAULT_DEADLINE_MS + TIMING_MARGIN_MS,
    `a request was answered after ${ms(Math.max(...answerMs))}`,
  );
  escapes.assertNone();
});

/** Successes answered in each of the `seconds` seconds from `from`, for a diagnostic line. */
function perSecond(samples: readonly Sample[], from: number, seconds: number): string {
  return Array.from({ length: seconds }, (_, i) =>
    successesBetween(samples, from + i * 1_000, from + (i + 1) * 1_000),
  ).join(', ');
}

/** Retries `operation` until it succeeds; returns how long that took. */
async function recover(operation: () => Promise<unknown>, withinMs: number): Promise<number> {
  const started = performance.now();
  let lastError: unknown;
  while (performance.now() - started < withinMs) {
    try {
      await operation();
      return performance.now() - started;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`the store did not recover within ${withinMs} ms: ${String(lastError)}`);
}

function msOrNever(value: number | undefined): string {
  return value === undefined ? 'never' : ms(value);
}
