/**
 * What the connection gate costs once open, measured two ways in one run:
 * 1. CPU: `gate.run('op', op)` against calling `op` directly, with a trivial async operation.
 * 2. End to end: `repository.get` against the driver's `findOne` with the same filter, on the
 *    embedded test database (or MONGODB_URI).
 * Writes bench/results/gate-overhead.json. Run: npm run bench
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import { ConnectionGate } from '../lib/connection-gate.js';
import { SessionRepository } from '../lib/session-repository.js';
import { startDatabase } from '../scripts/database.js';

const ROUNDS = 5;

async function timePerCall(calls: number, body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i += 1) await body();
  return ((performance.now() - started) * 1e6) / calls; // nanoseconds per call
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Alternates the two sides round by round so that machine noise hits both alike. */
async function compare(
  calls: number,
  direct: () => Promise<unknown>,
  gated: () => Promise<unknown>,
) {
  const directNs: number[] = [];
  const gatedNs: number[] = [];
  await timePerCall(Math.min(calls, 1_000), direct);
  await timePerCall(Math.min(calls, 1_000), gated);
  for (let round = 0; round < ROUNDS; round += 1) {
    directNs.push(await timePerCall(calls, direct));
    gatedNs.push(await timePerCall(calls, gated));
  }
  const direct_ns = median(directNs);
  const gated_ns = median(gatedNs);
  return {
    calls,
    rounds: ROUNDS,
    direct_ns,
    gated_ns,
    overhead_ns: gated_ns - direct_ns,
    ratio: gated_ns / direct_ns,
  };
}

const gate = new ConnectionGate(async () => 'open', { maxPending: 10, timeoutMs: 5_000 });
await gate.run('op', async () => undefined);
const operation = async (value: string) => value.length;
const cpu = await compare(
  200_000,
  () => operation('open'),
  () => gate.run('op', operation),
);
console.log(
  `gate.run vs direct call: ${cpu.gated_ns.toFixed(0)} ns vs ${cpu.direct_ns.toFixed(0)} ns (${cpu.overhead_ns.toFixed(0)} ns added)`,
);

const database = await startDatabase();
const client = await new MongoClient(database.uri).connect();
const repository = new SessionRepository({
  client,
  databaseName: 'bench_gate',
  collection: 'sessions',
});
let endToEnd: Awaited<ReturnType<typeof compare>>;
try {
  await repository.set('bench-session', { cookie: { expires: new Date(Date.now() + 3_600_000) } });
  const raw = client.db('bench_gate').collection('sessions');
  endToEnd = await compare(
    2_000,
    () =>
      raw.findOne(
        { _id: 'bench-session' as never, expires: { $gt: new Date() } },
        { projection: { _id: 0, session: 1 } },
      ),
    () => repository.get('bench-session'),
  );
  console.log(
    `repository.get vs driver findOne: ${(endToEnd.gated_ns / 1e3).toFixed(1)} µs vs ${(endToEnd.direct_ns / 1e3).toFixed(1)} µs (ratio ${endToEnd.ratio.toFixed(3)})`,
  );
  await client.db('bench_gate').dropDatabase();
} finally {
  await repository.close();
  await client.close();
  await database.stop();
}

const results = {
  benchmark: 'gate-overhead',
  date: new Date().toISOString(),
  node: process.version,
  database: database.description,
  cpu,
  endToEnd,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/gate-overhead.json', import.meta.url),
  `${JSON.stringify(results, null, 2)}\n`,
);
console.log('Wrote bench/results/gate-overhead.json');
