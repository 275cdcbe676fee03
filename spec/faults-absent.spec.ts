/**
 * Fault specs: the database is absent when the app starts, then comes up on the same port.
 * The app must answer every request promptly with a 5xx while it is away, and recover by itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MongoDBStore } from '../lib/index.js';
import { DEFAULT_SERVER_SELECTION_TIMEOUT_MS } from '../lib/options/client-source.js';
import { DEFAULT_OPERATION_TIMEOUT_MS } from '../lib/options/options.js';
import {
  assertStoreError,
  countEvents,
  ms,
  TIMING_MARGIN_MS,
  timed,
  until,
} from './support/faults.js';
import { useFerretDBServers } from './support/ferretdb-process.js';
import { HttpClient, type HttpResponse } from './support/http.js';
import {
  COOKIE,
  type CreatedSession,
  type ErrorReply,
  signedCookieValue,
  startSessionApp,
} from './support/session-app.js';
import { closedPort } from './support/tcp-proxy.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const servers = useFerretDBServers();
const escapes = useUnhandledRejectionRecorder();

/** The codes a request may fail with while the database is away. */
const OUTAGE_CODES = ['CONNECTION_FAILED', 'OPERATION_TIMEOUT', 'OPERATION_FAILED'];

/** A write (`POST /sessions`) and a read (`GET /sessions/current` with a session cookie). */
function requestsOf(url: string): Array<() => Promise<HttpResponse>> {
  const reader = new HttpClient(url);
  reader.setCookie(COOKIE, signedCookieValue('a-session-that-was-never-stored'));
  return [() => new HttpClient(url).post('/sessions'), () => reader.get('/sessions/current')];
}

test('with the default settings, an app whose database is absent answers every request with a 5xx within the server-selection timeout', {
  timeout: 30_000,
}, async (t) => {
  const port = await closedPort();
  const store = new MongoDBStore({
    uri: `mongodb://127.0.0.1:${port}/faults`,
    collection: 'absent',
  });
  const events = countEvents(store, ['connected', 'connect', 'error']);
  t.after(() => store.close());
  const app = await startSessionApp(t, store);
  const bound = DEFAULT_SERVER_SELECTION_TIMEOUT_MS + TIMING_MARGIN_MS;

  // Two rounds: the first connection attempt, then the attempt the next requests make.
  for (const round of [1, 2]) {
    const requests = Array.from({ length: 5 }, () => requestsOf(app.url)).flat();
    const outcomes = await Promise.all(requests.map((request) => timed(request)));
    for (const outcome of outcomes) {
      assert.ok(
        outcome.ok,
        `round ${round}: the request itself failed: ${String(!outcome.ok && outcome.error)}`,
      );
      const { status, body } = outcome.value;
      assert.ok(status >= 500 && status < 600, `round ${round}: status ${status}: ${body}`);
      const reply = JSON.parse(body) as ErrorReply;
      assert.ok(
        reply.code !== null && OUTAGE_CODES.includes(reply.code),
        `round ${round}: the app saw ${reply.error} (${reply.code})`,
      );
      assert.ok(
        outcome.ms <= bound,
        `round ${round}: answered after ${ms(outcome.ms)}, more than the ${DEFAULT_SERVER_SELECTION_TIMEOUT_MS} ms server-selection timeout (+${TIMING_MARGIN_MS} ms)`,
      );
    }
    const slowest = Math.max(...outcomes.map((outcome) => outcome.ms));
    t.diagnostic(`round ${round}: ${outcomes.length} requests, all 500, slowest ${ms(slowest)}`);
  }

  for (const error of app.errors) assertStoreError(error, OUTAGE_CODES);
  assert.equal(events.count('connected'), 0);
  assert.equal(events.count('connect'), 0);
  assert.equal(events.count('error'), 1, 'one error event, for the failed first connect');
  const reported = assertStoreError(events.payloads('error')[0], OUTAGE_CODES);
  t.diagnostic(`error event: ${reported.name} (${reported.code})`);
  escapes.assertNone();
});

test('the default deadline and server-selection timeout are 5 s and 3 s', () => {
  assert.equal(DEFAULT_OPERATION_TIMEOUT_MS, 5_000);
  assert.equal(DEFAULT_SERVER_SELECTION_TIMEOUT_MS, 3_000);
  const store = new MongoDBStore({ uri: 'mongodb://127.0.0.1:1/faults' });
  store.on('error', () => undefined);
  try {
    assert.equal(store.options.operationTimeoutMs, 5_000);
    assert.equal(store.client?.options.serverSelectionTimeoutMS, 3_000);
  } finally {
    void store.close();
  }
});

test('an app started before its database serves the next request once the database is up on that port, without a restart, and emits connected then', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t, { start: false });
  if (server === undefined) return;
  const store = new MongoDBStore({
    uri: `${server.uri}faults`,
    collection: 'started_later',
    operationTimeoutMs: 1_500,
    connectionOptions: { serverSelectionTimeoutMS: 500 },
  });
  const events = countEvents(store, ['connected', 'connect', 'error']);
  t.after(() => store.close());
  const app = await startSessionApp(t, store);

  for (const request of requestsOf(app.url)) {
    const outcome = await timed(request);
    assert.ok(outcome.ok);
    assert.equal(outcome.value.status, 500, outcome.value.body);
    assert.ok(outcome.ms <= 1_500 + TIMING_MARGIN_MS, `answered after ${ms(outcome.ms)}`);
  }
  assert.equal(events.count('connected'), 0, 'connected before the database was up');

  await server.start();
  const upAt = performance.now();
  const browser = new HttpClient(app.url);
  const created = await browser.post('/sessions');
  assert.equal(
    created.status,
    200,
    `the first request after the database came up: ${created.body}`,
  );
  const { id, n } = JSON.parse(created.body) as CreatedSession;
  const read = await browser.get('/sessions/current');
  assert.equal(read.status, 200, read.body);
  assert.deepEqual(JSON.parse(read.body), { id, n });

  await until(() => events.count('connected') > 0, 2_000, 'no connected event after recovery');
  assert.equal(events.count('connected'), 1);
  assert.equal(events.count('connect'), 1);
  t.diagnostic(
    `connected emitted ${ms((events.firstAt('connected') ?? upAt) - upAt)} after the database answered ping`,
  );
  escapes.assertNone();
});
