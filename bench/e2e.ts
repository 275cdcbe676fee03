/**
 * End to end: the app of `bench/e2e-app.ts` (Express, express-session, one store) in a child
 * process per store, loaded over loopback HTTP by autocannon, per scenario. Within each round
 * every store is loaded once, in an order that rotates, so that the machine's noise hits all
 * alike; the ratios are taken round by round. Commands per request come from the driver's command
 * monitoring in each app, the same way for every store.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { type Document, MongoClient } from 'mongodb';
import { cell, round, type Spread, type SuiteContext, spread, table } from './common.js';
import { sampleSession, sessionId } from './driver.js';
import { type AppStats, SCENARIOS, type Scenario, STORES, type StoreName } from './e2e-app.js';

const CONNECTIONS = 32;
/** Signed-in visitors whose sessions the read, change and rolling scenarios load. */
const SIGNED_IN = 32;
const APP = fileURLToPath(new URL('./e2e-app.ts', import.meta.url));
const WRITES = new Set(['update', 'insert', 'delete', 'findAndModify']);

export const STORE_LABELS: Record<StoreName, string> = {
  cms6: 'this store (defaults)',
  'cms6-touch0': 'this store, touchAfterMs: 0',
  'connect-mongo6': 'connect-mongo 6',
  cms5: 'connect-mongodb-session 5',
  memory: 'MemoryStore (ceiling)',
};
/** The stores this one is compared with. */
export const PEERS: readonly StoreName[] = ['connect-mongo6', 'cms5'];

export const SCENARIO_LABELS: Record<Scenario, string> = {
  read: '(a) reading a session',
  change: '(b) changing it every request',
  rolling: '(c) rolling, resave: false',
  'new-visitors': '(d) new visitors',
};
const PATHS: Record<Scenario, string> = {
  read: '/read',
  change: '/change',
  rolling: '/read',
  'new-visitors': '/new',
};

export interface StoreSample {
  readonly store: StoreName;
  readonly label: string;
  readonly requestsPerSecond: Spread;
  readonly p50Ms: Spread;
  readonly p99Ms: Spread;
  /** Failed requests over all rounds: connection errors, timeouts and non-2xx answers. */
  readonly errors: number;
  /** Store commands sent per request, over all rounds. */
  readonly commandsPerRequest: number;
  /** Of which writes (update, insert, delete). */
  readonly writesPerRequest: number;
  /** The commands' own durations per request, as the driver measured them: the database's share. */
  readonly databaseMsPerRequest: number;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly label: string;
  readonly stores: readonly StoreSample[];
  /** This store's (defaults) requests/s over each other store's, per round. */
  readonly ratios: Partial<Record<StoreName, Spread>>;
  /** The same for `touchAfterMs: 0`. */
  readonly ratiosTouch0: Partial<Record<StoreName, Spread>>;
}

export interface E2eResult {
  readonly rounds: number;
  readonly secondsPerRound: number;
  readonly connections: number;
  readonly signedInSessions: number;
  /** Sessions in each store's collection besides those loaded, in the store's own form. */
  readonly backgroundSessions: number;
  readonly scenarios: readonly ScenarioResult[];
}

interface App {
  readonly store: StoreName;
  readonly child: ChildProcess;
  readonly url: string;
  readonly cookies: string[];
}

interface Sample {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly requests: number;
  readonly commands: number;
  readonly writes: number;
  readonly databaseMs: number;
}

export async function runE2e(context: SuiteContext): Promise<E2eResult> {
  const rounds = context.quick ? 1 : 3;
  const seconds = context.quick ? 1 : 5;
  const background = context.quick ? 100 : 1_000;
  const client = await new MongoClient(context.uri).connect();
  const scenarios: ScenarioResult[] = [];
  try {
    for (const scenario of SCENARIOS) {
      const apps: App[] = [];
      try {
        for (const store of STORES) {
          const collection = `e2e_${scenario}_${store}`;
          const app = await startApp(context, store, scenario, collection);
          apps.push(app);
          if (store !== 'memory') {
            await seedBackground(
              client.db(context.databaseName).collection(collection),
              store,
              background,
            );
          }
          if (scenario !== 'new-visitors') await signIn(app);
        }
        const samples = new Map<StoreName, Sample[]>();
        for (const app of apps) await measure(app, scenario, 1); // warm-up
        for (let r = 0; r < rounds; r += 1) {
          // Rotate the order: each store goes first in some round.
          const order = apps.map((_, i) => apps[(i + r) % apps.length] as App);
          for (const app of order) {
            samples.set(app.store, [
              ...(samples.get(app.store) ?? []),
              await measure(app, scenario, seconds),
            ]);
          }
          context.progress(`e2e: ${SCENARIO_LABELS[scenario]}: round ${r + 1}/${rounds} done`);
        }
        scenarios.push(summarise(scenario, samples, rounds));
      } finally {
        await Promise.all(apps.map(stopApp));
      }
    }
    await client.db(context.databaseName).dropDatabase();
  } finally {
    await client.close();
  }
  return {
    rounds,
    secondsPerRound: seconds,
    connections: CONNECTIONS,
    signedInSessions: SIGNED_IN,
    backgroundSessions: background,
    scenarios,
  };
}

async function startApp(
  context: SuiteContext,
  store: StoreName,
  scenario: Scenario,
  collection: string,
): Promise<App> {
  const child = fork(APP, [store, scenario, context.uri, context.databaseName, collection], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${store} app did not start`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the ${store} app exited with ${code}`)));
    child.once('message', (message: { url: string }) => {
      clearTimeout(timer);
      resolve(message.url);
    });
  });
  return { store, child, url, cookies: [] };
}

async function stopApp(app: App): Promise<void> {
  if (app.child.exitCode !== null) return;
  const exited = new Promise((resolve) => app.child.once('exit', resolve));
  app.child.send({ type: 'close' });
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function stats(app: App): Promise<AppStats> {
  return new Promise((resolve) => {
    const answer = (message: AppStats) => {
      if (message.type !== 'stats') return;
      app.child.off('message', answer);
      resolve(message);
    };
    app.child.on('message', answer);
    app.child.send({ type: 'stats' });
  });
}

async function signIn(app: App): Promise<void> {
  for (let i = 0; i < SIGNED_IN; i += 1) {
    const response = await fetch(`${app.url}/login`);
    const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    if (cookie === '') throw new Error(`the ${app.store} app set no cookie at sign-in`);
    app.cookies.push(cookie);
  }
}

/** Sessions of other visitors, in the store's own form, so that no store runs on an empty collection. */
async function seedBackground(
  collection: import('mongodb').Collection<Document>,
  store: StoreName,
  count: number,
): Promise<void> {
  const documents = Array.from({ length: count }, (_, i) => {
    const session = sampleSession(i);
    return {
      _id: sessionId() as never,
      // connect-mongo stores a JSON string by default; both versions of this store a document.
      session: store === 'connect-mongo6' ? JSON.stringify(session) : session,
      expires: session.cookie.expires,
    };
  });
  await collection.insertMany(documents, { ordered: false });
}

async function measure(app: App, scenario: Scenario, seconds: number): Promise<Sample> {
  const before = await stats(app);
  const path = PATHS[scenario];
  const result = await autocannon({
    url: app.url,
    connections: CONNECTIONS,
    duration: seconds,
    requests:
      app.cookies.length === 0
        ? [{ method: 'GET', path }]
        : app.cookies.map((cookie) => ({ method: 'GET', path, headers: { cookie } })),
  });
  // express-session writes after the response: let the last ones land before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await stats(app);
  const total = (counts: Record<string, number>, only?: Set<string>) =>
    Object.entries(counts).reduce(
      (sum, [name, value]) => (only === undefined || only.has(name) ? sum + value : sum),
      0,
    );
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    requests: after.requests - before.requests,
    commands: total(after.commands) - total(before.commands),
    writes: total(after.commands, WRITES) - total(before.commands, WRITES),
    databaseMs: after.databaseMs - before.databaseMs,
  };
}

function summarise(
  scenario: Scenario,
  samples: Map<StoreName, Sample[]>,
  rounds: number,
): ScenarioResult {
  const of = (store: StoreName) => samples.get(store) ?? [];
  const stores = STORES.map((store): StoreSample => {
    const mine = of(store);
    const sum = (pick: (sample: Sample) => number) => mine.reduce((s, x) => s + pick(x), 0);
    const requests = Math.max(
      1,
      sum((x) => x.requests),
    );
    return {
      store,
      label: STORE_LABELS[store],
      requestsPerSecond: spread(mine.map((x) => x.requestsPerSecond)),
      p50Ms: spread(mine.map((x) => x.p50Ms)),
      p99Ms: spread(mine.map((x) => x.p99Ms)),
      errors: sum((x) => x.errors),
      commandsPerRequest: round(sum((x) => x.commands) / requests),
      writesPerRequest: round(sum((x) => x.writes) / requests),
      databaseMsPerRequest: round(sum((x) => x.databaseMs) / requests),
    };
  });
  const ratiosOf = (mine: StoreName) => {
    const ratios: Partial<Record<StoreName, Spread>> = {};
    for (const other of STORES) {
      if (other === mine) continue;
      const per = Array.from({ length: rounds }, (_, r) => {
        const a = of(mine)[r]?.requestsPerSecond ?? Number.NaN;
        return a / (of(other)[r]?.requestsPerSecond ?? Number.NaN);
      });
      ratios[other] = spread(per);
    }
    return ratios;
  };
  return {
    scenario,
    label: SCENARIO_LABELS[scenario],
    stores,
    ratios: ratiosOf('cms6'),
    ratiosTouch0: ratiosOf('cms6-touch0'),
  };
}

export function formatE2e(result: E2eResult): string {
  return result.scenarios
    .map((scenario) => {
      const rows = scenario.stores.map((store) => [
        store.label,
        `${cell(store.requestsPerSecond.median, 0)} (${cell(store.requestsPerSecond.min, 0)}–${cell(store.requestsPerSecond.max, 0)})`,
        cell(store.p50Ms.median, 0),
        cell(store.p99Ms.median, 0),
        String(store.errors),
        cell(store.commandsPerRequest, 2),
        cell(store.writesPerRequest, 2),
        cell(store.databaseMsPerRequest, 2),
        store.store === 'cms6' ? '' : cell(scenario.ratios[store.store]?.median, 2),
      ]);
      return `${scenario.label}\n${table(
        [
          'store',
          'req/s (range)',
          'p50 ms',
          'p99 ms',
          'errors',
          'cmd/req',
          'writes/req',
          'db ms/req',
          'this store ×',
        ],
        rows,
      )}`;
    })
    .join('\n\n');
}
