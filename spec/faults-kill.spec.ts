/**
 * Fault spec: the database is killed with SIGKILL while the Express app serves concurrent
 * requests (autocannon, 32 connections over loopback), then restarted on the same port and data.
 * Every request writes a new session and answers 200 only once the store acknowledged the write,
 * so the cookies of the 200s are the sessions that must survive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import autocannon from 'autocannon';
import { type Document, MongoClient } from 'mongodb';
import { MongoDBStore } from '../lib/index.js';
import { countEvents, ms, TIMING_MARGIN_MS } from './support/faults.js';
import { useFerretDBServers } from './support/ferretdb-process.js';
import { HttpClient } from './support/http.js';
import {
  COOKIE,
  type CreatedSession,
  type ErrorReply,
  startSessionApp,
} from './support/session-app.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const servers = useFerretDBServers();
const escapes = useUnhandledRejectionRecorder();

const DEADLINE_MS = 2_000;
const SERVER_SELECTION_MS = 1_000;
const CONNECTIONS = 32;
const DURATION_S = 9;
const KILL_AFTER_MS = 2_500;
const DOWN_FOR_MS = 2_000;
/** The load's bound in count, whatever the speed of the machine. */
const MAX_REQUESTS = 40_000;

interface Completed {
  /** When the response arrived, on `performance.now()`'s clock. */
  readonly at: number;
  readonly status: number;
  readonly latencyMs: number;
}

interface Acknowledged {
  readonly n: number;
  readonly cookie: string;
  readonly at: number;
}

test('a SIGKILL of the database under load fails requests cleanly, loses no acknowledged session, and the app recovers by itself after a restart', {
  timeout: 120_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const store = new MongoDBStore({
    uri: `${server.uri}faults`,
    collection: 'killed',
    operationTimeoutMs: DEADLINE_MS,
    connectionOptions: { serverSelectionTimeoutMS: SERVER_SELECTION_MS },
  });
  const events = countEvents(store, ['error', 'connected']);
  t.after(() => store.close());
  await store.repository.ready();
  const app = await startSessionApp(t, store);

  const completed: Completed[] = [];
  const acknowledged = new Map<string, Acknowledged>();
  const unexpected: string[] = [];
  const requestErrors: string[] = [];
  const failures = new Map<string, number>();
  const load = startLoad(app.url, (status, body, headers) => {
    if (status === 200) {
      const { id, n } = JSON.parse(body) as CreatedSession;
      const cookie = cookieOf(headers);
      if (cookie === undefined) unexpected.push(`a 200 without a session cookie: ${body}`);
      else acknowledged.set(id, { n, cookie, at: performance.now() });
    } else if (status >= 500 && status < 600) {
      const { error, code } = JSON.parse(body) as ErrorReply;
      if (code === null) unexpected.push(`${status} without a store error code: ${body}`);
      const kind = `${error} ${code}`;
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
    } else {
      unexpected.push(`status ${status}: ${body}`);
    }
  });
  load.instance.on('response', (_client, status, _bytes, latencyMs) => {
    completed.push({ at: performance.now(), status, latencyMs });
  });
  load.instance.on('reqError', (error: unknown) => {
    requestErrors.push(error instanceof Error ? error.message : String(error));
  });
  const startedAt = performance.now();

  await delay(KILL_AFTER_MS);
  await server.kill();
  const killedAt = performance.now();
  const acknowledgedBeforeKill = acknowledged.size;
  await delay(DOWN_FOR_MS);
  await server.start();
  const restartedAt = performance.now();
  const result = await load.done;
  const endedAt = performance.now();

  // What users saw.
  const ok = completed.filter((response) => response.status === 200);
  const failed = completed.filter((response) => response.status >= 500);
  const lastOkBeforeKill = Math.max(...ok.filter((r) => r.at < killedAt).map((r) => r.at));
  const firstOkAfterRestart = ok.find((response) => response.at > restartedAt)?.at;
  const slowest = Math.max(...completed.map((response) => response.latencyMs));
  const rate = (from: number, to: number) =>
    (ok.filter((r) => r.at >= from && r.at < to).length * 1000) / (to - from);
  const before = rate(startedAt + 500, killedAt);
  const lastSecond = rate(endedAt - 1_500, endedAt - 500);

  // Every acknowledged session, read back from the restarted server.
  const lost = await missingSessions(
    server.uri,
    [...acknowledged].map(([id, { n }]) => ({ id, n })),
  );
  const browserChecks = await readBackThroughApp(app.url, [...acknowledged.values()], killedAt);

  const report = {
    requestsSent: result.requests.sent,
    responses: completed.length,
    ok: ok.length,
    failedCleanly: failed.length,
    failedBeforeKill: failed.filter((r) => r.at < killedAt).length,
    failedAfterRecovery: failed.filter((r) => r.at > (firstOkAfterRestart ?? endedAt)).length,
    failures: Object.fromEntries(failures),
    connectionErrors: result.errors,
    timeouts: result.timeouts,
    unhandledRejections: escapes.all.length,
    acknowledged: acknowledged.size,
    acknowledgedBeforeKill,
    acknowledgedLost: lost.length,
    readBackThroughApp: browserChecks,
    slowestResponse: ms(slowest),
    outageSeenByUsers:
      firstOkAfterRestart === undefined
        ? 'never recovered'
        : ms(firstOkAfterRestart - lastOkBeforeKill),
    recoveryAfterRestart:
      firstOkAfterRestart === undefined ? 'never' : ms(firstOkAfterRestart - restartedAt),
    okPerSecondBeforeKill: Math.round(before),
    okPerSecondAtEnd: Math.round(lastSecond),
    storeErrorEvents: events.count('error'),
  };
  t.diagnostic(`SIGKILL under load: ${JSON.stringify(report)}`);

  assert.deepEqual(unexpected, [], 'every answer is 200 or a 5xx carrying a store error code');
  assert.equal(result.timeouts, 0, 'no request hung for 10 s');
  assert.deepEqual(requestErrors, [], 'no connection was cut: the app answered every request');
  assert.ok(
    slowest <= DEADLINE_MS + 2 * TIMING_MARGIN_MS,
    `the slowest response took ${ms(slowest)}, deadline ${DEADLINE_MS} ms`,
  );
  assert.ok(failed.length > 0, 'the kill was seen: some requests failed');
  assert.ok(acknowledgedBeforeKill > 0, 'sessions were acknowledged before the kill');
  assert.deepEqual(lost, [], 'every acknowledged session is readable after the restart');
  assert.ok(firstOkAfterRestart !== undefined, 'requests succeed again after the restart');
  assert.ok(lastSecond > 0, 'throughput came back by itself');
  assert.equal(
    events.count('error'),
    0,
    'an outage after the first connect is no store error event',
  );
  escapes.assertNone();
});

type Headers = Record<string, string | string[] | undefined> | undefined;

/** Posts to `/sessions` from 32 connections for a few seconds; `onResponse` sees every answer. */
function startLoad(
  url: string,
  onResponse: (status: number, body: string, headers: Headers) => void,
): { instance: autocannon.Instance; done: Promise<autocannon.Result> } {
  let finish: (error: unknown, result: autocannon.Result) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) => (error ? reject(error) : resolve(result));
  });
  const instance = autocannon(
    {
      url,
      connections: CONNECTIONS,
      duration: DURATION_S,
      maxOverallRequests: MAX_REQUESTS,
      // Seconds: far past the deadline, so that a hang shows up as a timeout.
      timeout: 10,
      requests: [
        {
          method: 'POST',
          path: '/sessions',
          onResponse: (status, body, _context, headers) => onResponse(status, body, headers),
        },
      ],
    },
    (error, result) => finish(error, result),
  );
  return { instance, done };
}

/** The value of the session cookie a response set; autocannon keeps header names as sent. */
function cookieOf(headers: Headers): string | undefined {
  const name = Object.keys(headers ?? {}).find((key) => key.toLowerCase() === 'set-cookie');
  const setCookie = name === undefined ? undefined : headers?.[name];
  const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  const pair = first?.split(';', 1)[0] ?? '';
  return pair.startsWith(`${COOKIE}=`) ? pair.slice(COOKIE.length + 1) : undefined;
}

/** The acknowledged sessions that are not in the database with the number they were given. */
async function missingSessions(
  uri: string,
  sessions: ReadonlyArray<{ id: string; n: number }>,
): Promise<string[]> {
  const client = await new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 }).connect();
  try {
    const collection = client.db('faults').collection('killed');
    const found = new Map<string, unknown>();
    for (let i = 0; i < sessions.length; i += 500) {
      const ids = sessions.slice(i, i + 500).map(({ id }) => id);
      const documents = await collection
        .find({ _id: { $in: ids } } as Document, { projection: { 'session.n': 1 } })
        .toArray();
      for (const document of documents) found.set(String(document._id), document.session?.n);
    }
    return sessions
      .filter(({ id, n }) => found.get(id) !== n)
      .map(({ id }) => `${id.slice(0, 6)}…`);
  } finally {
    await client.close();
  }
}

/**
 * Sends the cookies of the last sessions acknowledged before the kill and of a spread of the
 * others, as their browsers would, and expects each session back.
 */
async function readBackThroughApp(
  url: string,
  sessions: readonly Acknowledged[],
  killedAt: number,
): Promise<number> {
  const step = Math.max(1, Math.floor(sessions.length / 15));
  const lastBeforeKill = sessions.filter((session) => session.at < killedAt).slice(-10);
  const sample = [...sessions.filter((_, i) => i % step === 0), ...lastBeforeKill];
  for (const session of sample) {
    const browser = new HttpClient(url);
    browser.setCookie(COOKIE, session.cookie);
    const response = await browser.get('/sessions/current');
    assert.equal(response.status, 200, response.body);
    assert.equal((JSON.parse(response.body) as { n: number | null }).n, session.n);
  }
  return sample.length;
}
