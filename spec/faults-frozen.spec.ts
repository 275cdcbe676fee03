/**
 * Fault specs: the database is frozen (SIGSTOP), so connections stay open and nothing answers,
 * as with a stalled disk or a paused VM. Operations must fail at their deadline, not after the
 * driver's 30 s connect timeout or a TCP timeout, and work again once the server resumes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
