/**
 * What lazy touch saves, end to end: an Express app with express-session (`rolling: true`,
 * `resave: false`: every request that does not change the session is a `touch`), loaded over
 * HTTP by autocannon, once with `touchAfterMs: 0` (a write per request) and once with the
 * default; rounds interleaved so that machine noise hits both alike. Counts the commands the
 * store sends per request with the driver's command monitoring: the figure that does not depend
 * on the machine. Loopback only; bounded in time.
 * Writes bench/results/lazy-touch.json. Run: npm run bench:lazy-touch
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';
import session from 'express-session';
import { MongoDBStore, type MongoDBStoreOptions } from '../lib/index.js';
import { DEFAULT_TOUCH_AFTER_MS } from '../lib/options.js';
import { startDatabase } from '../scripts/database.js';

const ROUNDS = 3;
const SECONDS = 5;
const CONNECTIONS = 32;
const SESSIONS = 32;

interface Variant {
  readonly name: string;
  readonly touchAfterMs: number;
}
const VARIANTS: readonly Variant[] = [
  { name: 'touchAfterMs: 0 (a write per touch)', touchAfterMs: 0 },
  {
    name: `touchAfterMs: ${DEFAULT_TOUCH_AFTER_MS} (default)`,
    touchAfterMs: DEFAULT_TOUCH_AFTER_MS,
  },
];

interface Sample {
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly commandsPerRequest: number;
  readonly writesPerRequest: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function startApp(uri: string, variant: Variant, collection: string) {
  const options: MongoDBStoreOptions = {
    uri,
    collection,
    touchAfterMs: variant.touchAfterMs,
    connectionOptions: { monitorCommands: true },
  };
  const store = new MongoDBStore(options);
  await store.repository.whenIndexed();
  const commands = new Map<string, number>();
  store.client.on('commandStarted', (event) => {
    commands.set(event.commandName, (commands.get(event.commandName) ?? 0) + 1);
  });
  const app = express();
  // Requests whose client went away at the end of a round still finish: teardown waits for them.
  let inFlight = 0;
  app.use((_req, res, next) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
    });
    next();
  });
  app.use(
    session({
      store,
      secret: 'bench secret',
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { maxAge: 24 * 60 * 60 * 1000 },
    }),
  );
  app.get('/login', (req, res) => {
    (req.session as unknown as { user: string }).user = 'someone';
    res.send('ok');
  });
  app.get('/read', (req, res) => {
    res.send((req.session as unknown as { user?: string }).user ?? 'nobody');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Sessions to read, each logged in once.
  const cookies: string[] = [];
  for (let i = 0; i < SESSIONS; i += 1) {
    const response = await fetch(`${url}/login`);
    cookies.push((response.headers.get('set-cookie') ?? '').split(';')[0] ?? '');
  }
  return {
    url,
    cookies,
    commands,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      // express-session saves or touches after the response has been sent.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await store.close();
    },
  };
}

async function measure(app: Awaited<ReturnType<typeof startApp>>): Promise<Sample> {
  app.commands.clear();
  const result = await autocannon({
    url: `${app.url}/read`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: app.cookies.map((cookie) => ({ method: 'GET', headers: { cookie } })),
  });
  const requests = result.requests.total;
  const count = (name: string) => app.commands.get(name) ?? 0;
  const all = [...app.commands.values()].reduce((sum, n) => sum + n, 0);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    commandsPerRequest: all / requests,
    writesPerRequest: count('update') / requests,
  };
}

const database = await startDatabase();
console.error(`Database: ${database.description}`);
try {
  const apps = await Promise.all(
    VARIANTS.map((variant, index) => startApp(database.uri, variant, `bench_lazy_${index}`)),
  );
  const samples: Sample[][] = VARIANTS.map(() => []);
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const [index, variant] of VARIANTS.entries()) {
      console.error(`round ${round}/${ROUNDS}: ${variant.name}`);
      samples[index]?.push(await measure(apps[index] as (typeof apps)[number]));
    }
  }
  await Promise.all(apps.map((app) => app.close()));

  const summary = VARIANTS.map((variant, index) => {
    const runs = samples[index] ?? [];
    const rps = runs.map((run) => run.requestsPerSecond);
    return {
      variant: variant.name,
      touchAfterMs: variant.touchAfterMs,
      requestsPerSecond: median(rps),
      requestsPerSecondRange: [Math.min(...rps), Math.max(...rps)],
      p50Ms: median(runs.map((run) => run.p50)),
      p99Ms: median(runs.map((run) => run.p99)),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      commandsPerRequest: median(runs.map((run) => run.commandsPerRequest)),
      writesPerRequest: median(runs.map((run) => run.writesPerRequest)),
    };
  });
  const [eager, lazy] = summary;
  const result = {
    benchmark: 'lazy-touch',
    database: database.description,
    rounds: ROUNDS,
    secondsPerRound: SECONDS,
    connections: CONNECTIONS,
    sessions: SESSIONS,
    variants: summary,
    ratio: {
      requestsPerSecond: (lazy?.requestsPerSecond ?? 0) / (eager?.requestsPerSecond ?? 1),
    },
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/lazy-touch.json', `${JSON.stringify(result, null, 2)}\n`);
  console.table(
    summary.map((row) => ({
      variant: row.variant,
      'req/s (median)': Math.round(row.requestsPerSecond),
      'req/s range': row.requestsPerSecondRange.map(Math.round).join('–'),
      'p50 ms': row.p50Ms,
      'p99 ms': row.p99Ms,
      errors: row.errors,
      'commands/request': row.commandsPerRequest.toFixed(3),
      'writes/request': row.writesPerRequest.toFixed(3),
    })),
  );
  console.log(`requests/s, lazy ÷ eager: ${result.ratio.requestsPerSecond.toFixed(2)}`);
} finally {
  await database.stop();
}
