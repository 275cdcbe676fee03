/**
 * Load for the fault specs: requests offered at a steady rate whatever becomes of the earlier
 * ones (an open loop, as independent visitors arrive), each recorded with when it was issued,
 * when it was answered and how; and the capacity of a server, measured by a closed loop.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import { SessionRepository } from '../../lib/index.js';
import { HttpClient, type HttpResponse } from './http.js';
import type { ErrorReply } from './session-app.js';

/** The fate of one request of the load. */
export interface Sample {
  /** `performance.now()` when it was issued. */
  readonly issuedAt: number;
  /** `performance.now()` when it was answered (or failed). */
  settledAt: number;
  /** Whether it was answered with success. */
  ok: boolean;
  /** The store's error code for a failure, `'HTTP_FAILED'` when the request itself failed. */
  code: string | undefined;
}

/** What one request gave: success, or the store's error code. */
export type Answer = { readonly ok: true } | { readonly ok: false; readonly code: string };

export interface SteadyLoad {
  /** Every request issued so far, in order of issue. */
  readonly samples: readonly Sample[];
  /** Requests issued and not yet answered. */
  readonly outstanding: number;
  /** Stops issuing and resolves once every request issued has been answered. */
  stop(): Promise<void>;
}

/** How often the load looks at its schedule; requests due meanwhile go out together. */
const TICK_MS = 5;

/**
 * Offers `perSecond` requests a second, each made by `request(n)` (`n` counts from 0), until
 * `stop()` or until `maxRequests` have been issued. A request that throws counts as a failure
 * with code `'HTTP_FAILED'`.
 */
export function offerSteadyLoad(
  perSecond: number,
  request: (n: number) => Promise<Answer>,
  maxRequests = Number.POSITIVE_INFINITY,
): SteadyLoad {
  const samples: Sample[] = [];
  let outstanding = 0;
  let drained: (() => void) | undefined;
  const started = performance.now();
  const issue = () => {
    const due = Math.min(
      maxRequests,
      Math.floor(((performance.now() - started) * perSecond) / 1000),
    );
    while (samples.length < due) {
      const sample: Sample = {
        issuedAt: performance.now(),
        settledAt: Number.NaN,
        ok: false,
        code: undefined,
      };
      const n = samples.length;
      samples.push(sample);
      outstanding += 1;
      const settle = (answer: Answer) => {
        sample.settledAt = performance.now();
        sample.ok = answer.ok;
        sample.code = answer.ok ? undefined : answer.code;
        outstanding -= 1;
        if (outstanding === 0) drained?.();
      };
      request(n).then(settle, () => settle({ ok: false, code: 'HTTP_FAILED' }));
    }
  };
  const timer = setInterval(issue, TICK_MS);
  return {
    samples,
    get outstanding() {
      return outstanding;
    },
    stop() {
      clearInterval(timer);
      if (outstanding === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        drained = resolve;
      });
    },
  };
}

/**
 * Requests a second that `request` sustains with `concurrency` of them at a time, each issued
 * as soon as one is answered, over `durationMs` (after a warm-up of a fifth of it). Failures
 * are counted apart and not in the rate.
 */
export async function measureCapacity(
  request: () => Promise<Answer>,
  concurrency: number,
  durationMs: number,
): Promise<{ readonly perSecond: number; readonly failed: number }> {
  let counting = false;
  let succeeded = 0;
  let failed = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const answer = await request().catch((): Answer => ({ ok: false, code: 'HTTP_FAILED' }));
      if (!counting) continue;
      if (answer.ok) succeeded += 1;
      else failed += 1;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await delay(durationMs / 5);
  counting = true;
  const from = performance.now();
  await delay(durationMs);
  counting = false;
  const elapsed = performance.now() - from;
  running = false;
  await Promise.all(workers);
  return { perSecond: (succeeded * 1000) / elapsed, failed };
}

/** Successes among `samples` answered within [`from`, `to`) (`performance.now()` times). */
export function successesBetween(samples: readonly Sample[], from: number, to: number): number {
  return samples.filter((s) => s.ok && s.settledAt >= from && s.settledAt < to).length;
}

/** The first success answered at or after `from`, as milliseconds after `from`; `undefined` if none. */
export function firstSuccessAfter(samples: readonly Sample[], from: number): number | undefined {
  let first = Number.POSITIVE_INFINITY;
  for (const sample of samples) {
    if (sample.ok && sample.settledAt >= from) first = Math.min(first, sample.settledAt);
  }
  return Number.isFinite(first) ? first - from : undefined;
}

/** How many samples ended with each code (`ok` for successes), for a diagnostic line. */
export function tally(samples: readonly Sample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { ok, code } of samples) {
    const key = ok ? 'ok' : (code ?? 'pending');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Requests of `visitors` visitors to the fault specs' app (spec/support/session-app.ts) at
 * `url`, each with a session created first: even `n` writes the visitor's session
 * (`POST /sessions`: a read, then a write), odd `n` reads it (`GET /sessions/current`). The
 * collection keeps its size, so the database's speed does not drift as the load goes on (FerretDB
 * 1.x scans the collection for every lookup). Each answers success for a 200, else the store's code.
 */
export async function sessionRequests(
  url: string,
  visitors = 50,
): Promise<(n: number) => Promise<Answer>> {
  const browsers: HttpClient[] = [];
  for (let i = 0; i < visitors; i += 1) {
    const browser = new HttpClient(url);
    const created = await browser.post('/sessions');
    if (created.status !== 200) throw new Error(`POST /sessions answered ${created.status}`);
    browsers.push(browser);
  }
  return async (n) => {
    const visitor = browsers[Math.floor(n / 2) % browsers.length] as HttpClient;
    return answerOf(
      await (n % 2 === 0 ? visitor.post('/sessions') : visitor.get('/sessions/current')),
    );
  };
}

/** Success for a 200; else the store's error code the app answered with. */
function answerOf(response: HttpResponse): Answer {
  if (response.status === 200) return { ok: true };
  try {
    const { code } = JSON.parse(response.body) as ErrorReply;
    return { ok: false, code: code ?? `HTTP_${response.status}` };
  } catch {
    return { ok: false, code: `HTTP_${response.status}` };
  }
}

/** The `p`-th percentile (0–100) of `values`; `NaN` when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

/** Database operations of the average request of `sessionRequests`: a read, or a read and a write. */
export const OPERATIONS_PER_REQUEST = 1.5;

/**
 * Operations a second the database at `uri` sustains in the mix of `sessionRequests` (two reads
 * to a write, on 50 sessions), sent 64 at a time by a repository of its own, on a collection of
 * its own.
 */
export async function backendCapacity(uri: string, collection = 'capacity'): Promise<number> {
  const repository = new SessionRepository({ uri, collection });
  try {
    const session = () => ({ cookie: { expires: new Date(Date.now() + 60 * 60 * 1000) } });
    for (let i = 0; i < 50; i += 1) await repository.set(`capacity-${i}`, session());
    let n = 0;
    const measured = await measureCapacity(
      async () => {
        n += 1;
        const sid = `capacity-${n % 50}`;
        if (n % 3 === 0) await repository.set(sid, session());
        else await repository.get(sid);
        return { ok: true };
      },
      64,
      2_500,
    );
    return measured.perSecond;
  } finally {
    await repository.close();
  }
}

/** Idle sessions the load specs store beside the visitors' (see `storeIdleSessions`). */
export const IDLE_SESSIONS = 1_000;

/**
 * Stores `count` sessions nobody visits in `collection` of the database at `uri`, in batches,
 * through the driver: FerretDB 1.x scans the collection for every operation, so they make each
 * operation cost the database more, and leave the app's own work small beside it.
 */
export async function storeIdleSessions(
  uri: string,
  collection: string,
  count: number,
): Promise<void> {
  const client = await new MongoClient(uri).connect();
  try {
    const sessions = client.db().collection<{ _id: string }>(collection);
    const expires = new Date(Date.now() + 60 * 60 * 1000);
    for (let start = 0; start < count; start += 1_000) {
      const batch = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => ({
        _id: `idle-${start + i}`,
        session: { cookie: { expires: expires.toISOString() }, n: start + i },
        expires,
      }));
      await sessions.insertMany(batch);
    }
  } finally {
    await client.close();
  }
}
