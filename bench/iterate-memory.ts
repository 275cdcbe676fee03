/**
 * Memory of reading every session: the repository's cursor iterator against `all()`, at two
 * collection sizes, in one run. The iterator should stay flat as the collection grows; `all()`
 * grows with it. Writes bench/results/iterate-memory.json.
 * Run: npm run bench:memory (node --expose-gc, so that baselines start from a collected heap)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import { type SessionLike, SessionRepository } from '../lib/session-repository.js';
import { startDatabase } from '../scripts/database.js';

const SIZES = [5_000, 20_000];
const PAYLOAD = 'x'.repeat(1_000); // about 1 KB of session data each

const collect = (globalThis as { gc?: () => void }).gc;
if (collect === undefined)
  throw new Error('Run with node --expose-gc (npm run bench:memory does).');

function heapMiB(): number {
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** Peak heap growth over a collected baseline while `read` runs, in MiB, sampled by `read`. */
async function peakGrowth(read: (sample: () => void) => Promise<void>): Promise<number> {
  collect?.();
  const baseline = heapMiB();
  let peak = baseline;
  const sample = () => {
    peak = Math.max(peak, heapMiB());
  };
  await read(sample);
  sample();
  return peak - baseline;
}

const database = await startDatabase();
const client = await new MongoClient(database.uri).connect();
const results: Array<{ sessions: number; iterator_mib: number; all_mib: number }> = [];
try {
  for (const size of SIZES) {
    const collection = `memory_${size}`;
    const raw = client.db('bench_memory').collection(collection);
    const expires = new Date(Date.now() + 3_600_000);
    for (let start = 0; start < size; start += 1_000) {
      await raw.insertMany(
        Array.from({ length: 1_000 }, (_, i) => ({
          _id: `s${start + i}` as never,
          session: { payload: PAYLOAD, n: start + i },
          expires,
        })),
      );
    }
    const repository = new SessionRepository<SessionLike & { n?: number }>({
      client,
      databaseName: 'bench_memory',
      collection,
    });
    const iterator_mib = await peakGrowth(async (sample) => {
      let count = 0;
      for await (const _ of repository) {
        count += 1;
        if (count % 250 === 0) sample();
      }
      if (count !== size) throw new Error(`iterated ${count} of ${size}`);
    });
    const all_mib = await peakGrowth(async (sample) => {
      const everything = await repository.all();
      sample();
      if (everything.length !== size)
        throw new Error(`all() returned ${everything.length} of ${size}`);
    });
    results.push({ sessions: size, iterator_mib, all_mib });
    console.log(
      `${size} sessions: iterator peak +${iterator_mib.toFixed(1)} MiB, all() peak +${all_mib.toFixed(1)} MiB`,
    );
    await repository.close();
  }
  await client.db('bench_memory').dropDatabase();
} finally {
  await client.close();
  await database.stop();
}

const [small, large] = results;
const growth =
  small !== undefined && large !== undefined
    ? { iterator: large.iterator_mib / small.iterator_mib, all: large.all_mib / small.all_mib }
    : undefined;
if (growth !== undefined) {
  console.log(
    `From ${small?.sessions} to ${large?.sessions} sessions: iterator x${growth.iterator.toFixed(2)}, all() x${growth.all.toFixed(2)}`,
  );
}
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/iterate-memory.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'iterate-memory', date: new Date().toISOString(), node: process.version, database: database.description, results, growth }, null, 2)}\n`,
);
console.log('Wrote bench/results/iterate-memory.json');
