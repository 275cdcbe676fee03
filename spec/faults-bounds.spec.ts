/**
 * Fault specs: a long outage under load. With a small `maxPendingOperations`, operations past
 * the bound are refused at once with `QueueFullError`, before the first connect and after the
 * connection is lost (and, once an operation sent has outlived its deadline, with
 * `OverloadedError`), so memory stays flat however long the database is away; nothing hangs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SessionRepository } from '../lib/index.js';
import { assertStoreError, ms, TIMING_MARGIN_MS } from './support/faults.js';
import { useFerretDBServers } from './support/ferretdb-process.js';
import { closedPort } from './support/tcp-proxy.js';
import { useUnhandledRejectionRecorder } from './support/unhandled-rejections.js';

const servers = useFerretDBServers();
const escapes = useUnhandledRejectionRecorder();

const MAX_PENDING = 50;
const DEADLINE_MS = 2_000;
const HOUR_MS = 60 * 60 * 1000;

interface Payload {
  n: number;
  data: string;
  cookie: { expires: Date };
}

/** The fate of one operation: when it was issued and settled, and how. */
interface Outcome {
  readonly issuedAt: number;
  settledAt: number;
  code: string | 'ok' | undefined;
  /** Whether it settled in the turn of the event loop that issued it: "at once". */
  atOnce: boolean;
}

/**
 * Issues `count` operations at once, alternating get and set, and records each one's fate;
 * resolves once all have settled. Keeps no promise itself, so that refused operations are garbage
 * at once and the heap measures what the store holds.
 */
function burst(
  repository: SessionRepository<Payload>,
  count: number,
  into: Outcome[],
): Promise<void> {
  let unsettled = count;
  let turnEnded = false;
  setImmediate(() => {
    turnEnded = true;
  });
  return new Promise((resolve) => {
    const settle = (outcome: Outcome, code: string) => {
      outcome.settledAt = performance.now();
      outcome.code = code;
      outcome.atOnce = !turnEnded;
      unsettled -= 1;
      if (unsettled === 0) resolve();
    };
    for (let i = 0; i < count; i += 1) {
      const outcome: Outcome = {
        issuedAt: performance.now(),
        settledAt: Number.NaN,
        code: undefined,
        atOnce: false,
      };
      into.push(outcome);
      const sid = `bounds-${into.length}`;
      const operation =
        i % 2 === 0
          ? repository.get(sid)
          : repository.set(sid, {
              n: i,
              // 2 KiB of its own per session, so that operations held instead of refused show.
              data: `${i}`.padEnd(2_048, 'x'),
              cookie: { expires: new Date(Date.now() + HOUR_MS) },
            });
      operation.then(
        () => settle(outcome, 'ok'),
        (error: unknown) => settle(outcome, assertStoreError(error).code),
      );
    }
  });
}

/**
 * Whether the store refused the operation in the turn it was issued: past the bound, or while it
 * sheds load because the database stopped answering (see spec/faults-frozen.spec.ts).
 */
function refusedAtOnce(outcome: Outcome): boolean {
  return outcome.code === 'QUEUE_FULL' || (outcome.code === 'OVERLOADED' && outcome.atOnce);
}

/** The most operations that were pending for their callers at one time, refused ones excluded. */
function maxPending(outcomes: readonly Outcome[]): number {
  const edges = outcomes
    .filter((outcome) => !refusedAtOnce(outcome))
    .flatMap((outcome) => [
      { at: outcome.issuedAt, step: 1 },
      { at: outcome.settledAt, step: -1 },
    ])
    // At equal times, settle before issue: a slot freed and taken in the same instant is one.
    .sort((a, b) => a.at - b.at || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const { step } of edges) {
    now += step;
    most = Math.max(most, now);
  }
  return most;
}

/** Refused operations reject before the event loop moves on: no timer, no I/O, no waiting. */
function assertRefusedAtOnce(outcomes: readonly Outcome[]): void {
  const late = outcomes.filter((outcome) => outcome.code === 'QUEUE_FULL' && !outcome.atOnce);
  assert.equal(late.length, 0, `${late.length} refused operations rejected only in a later turn`);
}

function assertNoneHung(outcomes: readonly Outcome[]): void {
  const slowest = Math.max(...outcomes.map((outcome) => outcome.settledAt - outcome.issuedAt));
  assert.ok(
    slowest <= DEADLINE_MS + TIMING_MARGIN_MS,
    `an operation settled after ${ms(slowest)}, deadline ${DEADLINE_MS} ms`,
  );
}

const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** The heap in use after a full collection: what is really held. */
function heapAfterGc(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

test('before the first connect, operations past maxPendingOperations are refused at once with QueueFullError', {
  timeout: 30_000,
}, async (t) => {
  const port = await closedPort();
  const repository = new SessionRepository<Payload>({
    uri: `mongodb://127.0.0.1:${port}/faults`,
    maxPendingOperations: MAX_PENDING,
    operationTimeoutMs: DEADLINE_MS,
    // Keeps the first connection attempt pending for the whole burst.
    connectionOptions: { serverSelectionTimeoutMS: DEADLINE_MS },
  });
  t.after(() => repository.close());
  const outcomes: Outcome[] = [];
  const first = burst(repository, 500, outcomes);
  await delay(200);
  const second = burst(repository, 500, outcomes);
  await Promise.all([first, second]);

  const accepted = outcomes.filter((outcome) => outcome.code !== 'QUEUE_FULL');
  assert.equal(accepted.length, MAX_PENDING, 'the first operations fill the bound, no more');
  assert.equal(maxPending(outcomes), MAX_PENDING);
  assertRefusedAtOnce(outcomes);
  assertNoneHung(outcomes);
  for (const outcome of accepted) {
    assert.ok(
      outcome.code === 'CONNECTION_FAILED' || outcome.code === 'OPERATION_TIMEOUT',
      `an operation waiting for an absent database ended with ${outcome.code}`,
    );
  }
  t.diagnostic(
    `1000 operations while connecting: ${accepted.length} waited, ${outcomes.length - accepted.length} refused at once`,
  );
  escapes.assertNone();
});

test('after the connection is lost, the bound still holds under a long outage, memory stays flat and nothing hangs', {
  timeout: 60_000,
}, async (t) => {
  const server = await servers.create(t);
  if (server === undefined) return;
  const repository = new SessionRepository<Payload>({
    uri: `${server.uri}faults`,
    collection: 'bounds',
    maxPendingOperations: MAX_PENDING,
    operationTimeoutMs: DEADLINE_MS,
    connectionOptions: { serverSelectionTimeoutMS: 1_000 },
  });
  t.after(() => repository.close());
  await repository.whenIndexed();
  const warmUp: Outcome[] = [];
  await burst(repository, MAX_PENDING, warmUp);
  assert.deepEqual(
    warmUp.filter((outcome) => outcome.code !== 'ok'),
    [],
    'operations within the bound succeed while the database is up',
  );

  await server.kill();
  const heapBefore = heapAfterGc();
  const rss = { before: process.memoryUsage().rss, peak: 0, after: 0 };
  let heapDuring = 0;
  const outcomes: Outcome[] = [];
  const waves: Array<Promise<void>> = [];
  const outageMs = 4_000;
  const started = performance.now();
  while (performance.now() - started < outageMs) {
    // Many times the bound each wave: 40 waves of 500, twenty thousand operations in all.
    waves.push(burst(repository, 500, outcomes));
    rss.peak = Math.max(rss.peak, process.memoryUsage().rss);
    if (waves.length === 20) heapDuring = heapAfterGc();
    await delay(100);
  }
  await Promise.all(waves);
  rss.after = process.memoryUsage().rss;

  const refused = outcomes.filter(refusedAtOnce).length;
  const most = maxPending(outcomes);
  const codes = new Map<string, number>();
  for (const { code } of outcomes) codes.set(String(code), (codes.get(String(code)) ?? 0) + 1);
  t.diagnostic(
    `${outcomes.length} operations over a ${outageMs} ms outage: ${JSON.stringify(Object.fromEntries(codes))}; at most ${most} pending at once (bound ${MAX_PENDING})`,
  );
  t.diagnostic(
    `RSS: ${megabytes(rss.before)} before the outage, peak ${megabytes(rss.peak)} (+${megabytes(rss.peak - rss.before)}), ${megabytes(rss.after)} after; heap held after GC mid-outage: +${megabytes(heapDuring - heapBefore)} (the spec's own ${outcomes.length} outcome records included)`,
  );
  assert.ok(most <= MAX_PENDING, `${most} operations were pending at once, bound ${MAX_PENDING}`);
  assert.ok(refused > outcomes.length / 2, `only ${refused} of ${outcomes.length} refused`);
  assert.equal(
    outcomes.filter((outcome) => outcome.code === 'ok').length,
    0,
    'nothing succeeded with the server dead',
  );
  assertRefusedAtOnce(outcomes);
  assertNoneHung(outcomes);
  // Ten thousand held sessions of 2 KiB would be 20 MiB and more; fifty held ones, 100 KiB.
  assert.ok(
    heapDuring - heapBefore < 8 * 2 ** 20,
    `the heap held ${megabytes(heapDuring - heapBefore)} more mid-outage`,
  );

  await server.start();
  const recovered = performance.now();
  for (;;) {
    try {
      await repository.set('after-outage', {
        n: 1,
        data: '',
        cookie: { expires: new Date(Date.now() + HOUR_MS) },
      });
      break;
    } catch (error) {
      assertStoreError(error);
      assert.ok(performance.now() - recovered < 10_000, 'the store did not recover within 10 s');
      await delay(100);
    }
  }
  assert.equal((await repository.get('after-outage'))?.n, 1);
  t.diagnostic(`first successful set ${ms(performance.now() - recovered)} after the restart`);
  escapes.assertNone();
});
